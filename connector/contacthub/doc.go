// Package contacthub is the Contacthub side of the connector: the API client
// (events, workspace throttling, update stream), the EventsSink that turns
// upstream domain events into created Contacthub events, and the
// UpdateStreamSource that republishes the update stream to Kafka.
//
// Sinks here only turn records into API calls and say per record what
// happened; retries, dead-lettering and commits belong to package streams.
package contacthub
