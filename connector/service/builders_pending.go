package service

import (
	"errors"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/streams"
)

// Placeholders until the UPS, EnableNow and update-stream parts land; each
// is replaced by its own file.

func buildUPSSink(d *Deps, sc config.Sink) (streams.Sink, []Unit, []streams.TopicSpec, error) {
	return nil, nil, nil, errors.New("type ups is not available in this build")
}

func buildEnableNowSink(d *Deps, sc config.Sink) (streams.Sink, []Unit, []streams.TopicSpec, error) {
	return nil, nil, nil, errors.New("type enablenow is not available in this build")
}

func buildUpdatesSource(d *Deps, sc config.Source) ([]Unit, []streams.TopicSpec, error) {
	return nil, nil, errors.New("type contacthub-updates is not available in this build")
}
