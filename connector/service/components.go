package service

import (
	"fmt"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/streams"
)

// A component is one file of this package that owns everything about one
// sink type, source type or API section: its config struct, its defaults
// (the only place they live), its checks, its builder and one registration
// in init:
//
//	func init() {
//		registerSink(config.SinkType[UPSSinkConfig]{
//			Name: "ups", Section: "ups", Needs: []string{upsSection},
//			Defaults: upsSinkDefaults, Validate: validateUPSSink,
//		}, buildUPSSink)
//	}
//
// Package config decodes, defaults and checks the component's part of the
// file through what is registered with it; this package keeps the builders.

// sinkBuilder builds a sink of one type, with the background units it needs
// (job followers) and the topics it writes besides the dead-letter topic.
type sinkBuilder func(d *Deps, sc config.Sink) (streams.Sink, []Unit, []streams.TopicSpec, error)

// sourceBuilder builds a source of one type: its units and the topics it
// writes.
type sourceBuilder func(d *Deps, src config.Source) ([]Unit, []streams.TopicSpec, error)

var (
	sinkBuilders   = map[string]sinkBuilder{}
	sourceBuilders = map[string]sourceBuilder{}
)

// registerSink registers a sink type: its block, defaults and checks with
// package config, and build, which gets the sink's settings typed. Call it
// from init.
func registerSink[S any](t config.SinkType[S], build func(d *Deps, sc config.Sink, settings *S) (streams.Sink, []Unit, []streams.TopicSpec, error)) {
	config.RegisterSink(t)
	sinkBuilders[t.Name] = func(d *Deps, sc config.Sink) (streams.Sink, []Unit, []streams.TopicSpec, error) {
		settings, err := settingsOf[S](d, sc.Settings, t.Needs)
		if err != nil {
			return nil, nil, nil, err
		}
		return build(d, sc, settings)
	}
}

// decodeCheck is the SinkType.Check of a sink type whose verdict on a record
// is whether decode takes it, whatever the sink's settings.
func decodeCheck[S, T any](decode func([]byte) (T, error)) func(*config.Sink, *S) func([]byte) error {
	check := func(v []byte) error {
		_, err := decode(v)
		return err
	}
	return func(*config.Sink, *S) func([]byte) error { return check }
}

// registerSource registers a source type: its keys, defaults and checks with
// package config, and build, which gets the source's settings typed. Call it
// from init.
func registerSource[S any](t config.SourceType[S], build func(d *Deps, src config.Source, settings *S) ([]Unit, []streams.TopicSpec, error)) {
	config.RegisterSource(t)
	sourceBuilders[t.Name] = func(d *Deps, src config.Source) ([]Unit, []streams.TopicSpec, error) {
		settings, err := settingsOf[S](d, src.Settings, t.Needs)
		if err != nil {
			return nil, nil, err
		}
		return build(d, src, settings)
	}
}

// settingsOf is what a builder may count on, checked: its settings typed and
// the sections it needs there. New builds from a validated config with
// defaults applied, so this fails only for Deps made by hand.
func settingsOf[S any](d *Deps, v any, needs []string) (*S, error) {
	s, ok := v.(*S)
	if !ok || s == nil {
		return nil, fmt.Errorf("settings are a %T, not a %T (config defaults not applied?)", v, s)
	}
	for _, key := range needs {
		if d.Config.Sections[key] == nil {
			return nil, fmt.Errorf("the %s section is needed", key)
		}
	}
	return s, nil
}
