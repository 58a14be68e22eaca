package event

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TypeKafka is Otoroshi's Kafka data exporter.
const TypeKafka = "kafka"

// KafkaConfig is the config of a kafka exporter, with Otoroshi's field
// names (events/kafka.scala KafkaConfig):
//
//	{"servers":["127.0.0.1:9092"],"topic":"otoroshi-events",
//	 "securityProtocol":"PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL",
//	 "saslConfig":{"username":"u","password":"p","mechanism":"PLAIN|SCRAM-SHA-256|SCRAM-SHA-512"},
//	 "hostValidation":true,"truststore":"/path/ca.pem","keystore":"/path/client.pem",
//	 "properties":{"compression.type":"gzip","linger.ms":"5","acks":"all"}}
//
// Differences: truststore and keystore are PEM files (a CA bundle; a client
// certificate and its key), not Java keystores, and keyPass is unused; of
// the producer properties, compression.type (none, gzip, snappy, lz4,
// zstd), linger.ms, acks (0, 1, all), batch.size and
// delivery.timeout.ms are read; others are kept and ignored.
type KafkaConfig struct {
	Servers          []string          `json:"servers"`
	Topic            string            `json:"topic"`
	SecurityProtocol string            `json:"securityProtocol"`
	SASL             *KafkaSASL        `json:"saslConfig"`
	HostValidation   *bool             `json:"hostValidation"`
	Truststore       string            `json:"truststore"`
	Keystore         string            `json:"keystore"`
	Properties       map[string]string `json:"properties"`
}

// KafkaSASL is Otoroshi's SaslConfig.
type KafkaSASL struct {
	Username  string `json:"username"`
	Password  string `json:"password"`
	Mechanism string `json:"mechanism"`
}

// kafkaDefaultDelivery bounds how long one batch may wait for the brokers
// (delivery.timeout.ms), retries included; then it is counted as failed.
const kafkaDefaultDelivery = 10 * time.Second

func (c *ExporterConfig) kafka() (KafkaConfig, error) {
	k := KafkaConfig{Topic: "otoroshi-events", SecurityProtocol: "PLAINTEXT"}
	if err := json.Unmarshal(c.Config, &k); err != nil {
		return k, fmt.Errorf("cannot decode kafka config: %w", err)
	}
	if k.Topic == "" {
		k.Topic = "otoroshi-events"
	}
	if k.SecurityProtocol == "" {
		k.SecurityProtocol = "PLAINTEXT"
	}
	return k, nil
}

// kafkaOptions checks k and returns the franz-go options it stands for;
// field names the first bad field, relative to config.
func kafkaOptions(k KafkaConfig) (opts []kgo.Opt, delivery time.Duration, field string, err error) {
	if len(k.Servers) == 0 {
		return nil, 0, "servers", fmt.Errorf("at least one broker host:port is needed")
	}
	for i, s := range k.Servers {
		host, port, e := net.SplitHostPort(s)
		if p, perr := strconv.Atoi(port); e != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			return nil, 0, fmt.Sprintf("servers[%d]", i), fmt.Errorf("%q is not host:port", s)
		}
	}
	opts = append(opts, kgo.SeedBrokers(k.Servers...), kgo.DefaultProduceTopic(k.Topic),
		// An outage must not pile records up in the client: the exporter's
		// queue is the only buffer, and it drops and counts.
		kgo.MaxBufferedRecords(MaxGroupSize),
		// Without idempotent writes franz-go can fail records at the
		// delivery timeout even when a request was in flight (with them it
		// must wait, possibly forever while a broker is away). Events are
		// at most once anyway: a retried batch may be written twice.
		kgo.DisableIdempotentWrite())
	useTLS, useSASL := false, false
	switch strings.ToUpper(k.SecurityProtocol) {
	case "PLAINTEXT":
	case "SSL":
		useTLS = true
	case "SASL_PLAINTEXT":
		useSASL = true
	case "SASL_SSL":
		useTLS, useSASL = true, true
	default:
		return nil, 0, "securityProtocol", fmt.Errorf("must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, got %q", k.SecurityProtocol)
	}
	if useTLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: k.HostValidation != nil && !*k.HostValidation} //nolint:gosec // Otoroshi's hostValidation: false, the user's explicit choice
		if k.Truststore != "" {
			pem, e := os.ReadFile(k.Truststore)
			if e != nil {
				return nil, 0, "truststore", fmt.Errorf("cannot read %s: %v", k.Truststore, e)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, 0, "truststore", fmt.Errorf("%s holds no PEM certificate (Java keystores are not supported)", k.Truststore)
			}
			tc.RootCAs = pool
		}
		if k.Keystore != "" {
			cert, e := tls.LoadX509KeyPair(k.Keystore, k.Keystore)
			if e != nil {
				return nil, 0, "keystore", fmt.Errorf("cannot load a PEM certificate and key from %s (Java keystores are not supported): %v", k.Keystore, e)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if useSASL {
		if k.SASL == nil || k.SASL.Username == "" {
			return nil, 0, "saslConfig.username", fmt.Errorf("%s needs saslConfig with a username", k.SecurityProtocol)
		}
		var m sasl.Mechanism
		switch strings.ToUpper(k.SASL.Mechanism) {
		case "", "PLAIN":
			m = plain.Auth{User: k.SASL.Username, Pass: k.SASL.Password}.AsMechanism()
		case "SCRAM-SHA-256":
			m = scram.Auth{User: k.SASL.Username, Pass: k.SASL.Password}.AsSha256Mechanism()
		case "SCRAM-SHA-512":
			m = scram.Auth{User: k.SASL.Username, Pass: k.SASL.Password}.AsSha512Mechanism()
		default:
			return nil, 0, "saslConfig.mechanism", fmt.Errorf("must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", k.SASL.Mechanism)
		}
		opts = append(opts, kgo.SASL(m))
	}
	delivery = kafkaDefaultDelivery
	for name, v := range k.Properties {
		p := "properties." + name
		switch name {
		case "compression.type":
			var c kgo.CompressionCodec
			switch v {
			case "none":
				c = kgo.NoCompression()
			case "gzip":
				c = kgo.GzipCompression()
			case "snappy":
				c = kgo.SnappyCompression()
			case "lz4":
				c = kgo.Lz4Compression()
			case "zstd":
				c = kgo.ZstdCompression()
			default:
				return nil, 0, p, fmt.Errorf("must be none, gzip, snappy, lz4 or zstd, got %q", v)
			}
			opts = append(opts, kgo.ProducerBatchCompression(c))
		case "linger.ms":
			ms, e := strconv.Atoi(v)
			if e != nil || ms < 0 || ms > 60000 {
				return nil, 0, p, fmt.Errorf("must be 0-60000 ms, got %q", v)
			}
			opts = append(opts, kgo.ProducerLinger(time.Duration(ms)*time.Millisecond))
		case "acks":
			switch v {
			case "0":
				opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
			case "1":
				opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
			case "all", "-1":
				opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
			default:
				return nil, 0, p, fmt.Errorf("must be 0, 1 or all, got %q", v)
			}
		case "batch.size":
			n, e := strconv.Atoi(v)
			if e != nil || n < 1024 || n > 64<<20 {
				return nil, 0, p, fmt.Errorf("must be 1024 to 64 MiB, got %q", v)
			}
			opts = append(opts, kgo.ProducerBatchMaxBytes(int32(n)))
		case "delivery.timeout.ms":
			ms, e := strconv.Atoi(v)
			if e != nil || ms < 100 {
				return nil, 0, p, fmt.Errorf("must be >= 100 ms, got %q", v)
			}
			delivery = time.Duration(ms) * time.Millisecond
		}
	}
	// A broker that vanishes with a request in flight (no RST) must not
	// hold a batch past the delivery timeout: bound the produce request
	// and the client's allowance for the network.
	opts = append(opts, kgo.RecordDeliveryTimeout(delivery), kgo.ProduceRequestTimeout(delivery),
		kgo.RequestTimeoutOverhead(min(delivery, 5*time.Second)), kgo.DialTimeout(min(delivery, 5*time.Second)))
	return opts, delivery, "", nil
}

// kafkaSink produces each event of a batch as one record (the event's
// JSON, no key, as Otoroshi does) and waits for the brokers' answer.
// franz-go batches, compresses and retries inside the delivery timeout; a
// batch not acknowledged by then is failed and counted by the exporter,
// whose bounded queue drops and counts while the brokers are away. It runs
// on the exporter's goroutine only, never on an event loop.
type kafkaSink struct {
	client   *kgo.Client
	delivery time.Duration
	recs     []*kgo.Record
}

func newKafkaSink(k KafkaConfig) (*kafkaSink, error) {
	opts, delivery, field, err := kafkaOptions(k)
	if err != nil {
		return nil, fmt.Errorf("config.%s: %w", field, err)
	}
	c, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot create the kafka client: %w", err)
	}
	return &kafkaSink{client: c, delivery: delivery}, nil
}

func (s *kafkaSink) write(ctx context.Context, batch [][]byte) (int, error) {
	s.recs = s.recs[:0]
	for _, d := range batch {
		// The client keeps the value until the broker answers; ProduceSync
		// returns after that, so the document needs no copy.
		s.recs = append(s.recs, &kgo.Record{Value: d})
	}
	ctx, cancel := context.WithTimeout(ctx, s.delivery+time.Second)
	defer cancel()
	res := s.client.ProduceSync(ctx, s.recs...)
	failed := 0
	var first error
	for _, r := range res {
		if r.Err != nil {
			failed++
			if first == nil {
				first = r.Err
			}
		}
	}
	for i := range s.recs {
		s.recs[i] = nil
	}
	if first != nil {
		return 1, fmt.Errorf("cannot deliver %d of %d events to kafka: %w: %w", failed, len(batch), ErrDelivery, first)
	}
	return 0, nil
}

func (s *kafkaSink) close() error {
	s.client.Close()
	return nil
}
