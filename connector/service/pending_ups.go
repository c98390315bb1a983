package service

import (
	"errors"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/streams"
)

// Placeholder until this part lands; its own file replaces this one.

func buildUPSSink(d *Deps, sc config.Sink) (streams.Sink, []Unit, []streams.TopicSpec, error) {
	return nil, nil, nil, errors.New("type ups is not available in this build")
}
