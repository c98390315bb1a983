// Package config is the connector's one configuration tree: a YAML file with
// ${ENV} expansion, decoded strictly (an unknown key is an error naming it),
// defaults applied by Defaults and checked by one Validate that reports
// every problem as a *FieldError naming the key and the reason. Secrets are
// of type Secret, which never prints.
//
// It owns the generic keys (kafka, http, log, and the keys every sink and
// every source has) and a registry of the parts components own: top-level
// sections (an API's settings: RegisterSection), sink types with their
// block inside a sink (RegisterSink) and source types with their keys
// (RegisterSource). It names no API and no type: each component registers,
// from one file of package service, its struct, its defaults and its
// checks, and Parse, Defaults and Validate reach them through the registry.
// A program that parses a config therefore imports package service.
//
// It must not open connections or start anything: building pipelines from a
// Config is package service's job.
package config
