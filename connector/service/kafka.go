package service

import (
	"fmt"
	"log/slog"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/streams"
)

// KafkaSecurity builds what every Kafka client of the process connects
// with from the kafka section: TLS files are read here, so a missing or
// unreadable file fails the start naming its key. The operator commands
// (connector dlq) connect with it too.
func KafkaSecurity(k config.Kafka, log *slog.Logger) (streams.Security, error) {
	sec := streams.Security{ClientID: k.ClientID}
	if k.TLS.Enabled {
		tc, err := streams.TLSOptions{
			CAFile: k.TLS.CAFile, CertFile: k.TLS.CertFile, KeyFile: k.TLS.KeyFile,
			ServerName: k.TLS.ServerName, MinVersion: k.TLS.MinVersion, InsecureSkipVerify: k.TLS.InsecureSkipVerify,
		}.Config()
		if err != nil {
			return sec, fmt.Errorf("kafka.tls: %w", err)
		}
		if k.TLS.InsecureSkipVerify {
			log.Warn("kafka.tls.insecure_skip_verify is set: the brokers' certificates are NOT checked, so anyone on the path can read and change the records; for tests only")
		}
		sec.TLS = tc
	}
	if k.SASL.Mechanism != "" {
		sec.SASL = &streams.SASL{Mechanism: k.SASL.Mechanism, Username: k.SASL.Username, Password: k.SASL.Password.Value()}
	}
	if err := sec.Validate(); err != nil {
		return sec, fmt.Errorf("kafka.%w", err)
	}
	return sec, nil
}
