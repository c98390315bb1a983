package service

import (
	"errors"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/streams"
)

// Placeholder until this part lands; its own file replaces this one.

func buildUpdatesSource(d *Deps, sc config.Source) ([]Unit, []streams.TopicSpec, error) {
	return nil, nil, errors.New("type contacthub-updates is not available in this build")
}
