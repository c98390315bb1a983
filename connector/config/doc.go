// Package config is the connector's one configuration tree: a YAML file with
// ${ENV} expansion, decoded strictly (an unknown key is an error), defaults
// applied in one place (Defaults) and checked by one Validate that names the
// key and the reason. Secrets are of type Secret, which never prints.
//
// It must not open connections or start anything: building pipelines from a
// Config is package service's job.
package config
