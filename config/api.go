package config

import (
	"strings"
	"time"
)

// DefaultAPIAddress is where the control API listens when 'api' names no
// address: this host only, on a port beside DNS's 53.
const DefaultAPIAddress = "127.0.0.1:8053"

// DefaultStoreFile is the embedded store's file when 'store' is not given,
// relative to the working directory (or to $STATE_DIRECTORY, which systemd
// sets for a unit with StateDirectory=).
const DefaultStoreFile = "gtm.db"

// API is the control API of one gtm block ('api' in the Corefile). It is
// not part of the configuration's digest: where the API listens does not
// change what gtm answers.
type API struct {
	Pos
	Address string // host:port
	Store   string // the embedded store's file; unused when Etcd is set
	// Etcd, when set ('store etcd ENDPOINT...'), puts the store in etcd
	// instead of the embedded file, so that several nodes share it.
	Etcd *EtcdStore
	// Node names this node among those sharing the store ('node NAME');
	// "" for the host's name.
	Node string
	// Vantage says where this node probes from ('vantage REGION
	// [CONTINENT [COUNTRY]]'), shown beside its verdicts.
	Vantage Vantage
	// NoProbe makes a resolution-only node ('probe off'): it answers from
	// the other nodes' verdicts and probes nothing itself.
	NoProbe bool
	// Quorum is the share of the live nodes probing an address, in
	// percent, that must see it down for the cluster to take it out
	// ('quorum PERCENT%').
	Quorum int
	// Grace is how long a node cut off from etcd keeps answering from the
	// cluster's last verdicts before it falls back on its own probes.
	Grace   time.Duration
	Tokens  string // the token file; "" for none (loopback only)
	TLSCert string
	TLSKey  string
	// MaxBody is the largest request body accepted.
	MaxBody  int64
	Webhooks []Webhook
}

// Webhook is an alert receiver: gtm POSTs its events there.
type Webhook struct {
	Pos
	Name    string
	URL     string
	Secret  string   // signs each body with HMAC-SHA256; "" for none
	Events  []string // kinds sent; empty for switchovers and address changes
	Timeout time.Duration
}

// Vantage is where a node probes from: a region's name, and optionally
// its continent and country codes as GeoIP gives them.
type Vantage struct {
	Region    string `json:"region,omitempty"`
	Continent string `json:"continent,omitempty"`
	Country   string `json:"country,omitempty"`
}

// DefaultQuorum is the share of probing nodes, in percent, that take an
// address out unless 'quorum' says.
const DefaultQuorum = 50

// DefaultGrace is how long a node cut off from etcd answers from the
// cluster's last verdicts unless 'grace' says.
const DefaultGrace = 30 * time.Second

// DefaultEtcdPrefix is where gtm's keys are in etcd unless 'prefix' says.
const DefaultEtcdPrefix = "/gtm/"

// DefaultEtcdDialTimeout bounds reaching etcd when a block loads, unless
// 'dial-timeout' says.
const DefaultEtcdDialTimeout = 5 * time.Second

// EtcdStore is 'store etcd ENDPOINT... [{ prefix P; tls CERT KEY CA;
// dial-timeout D }]': the store of a cluster of gtm nodes.
type EtcdStore struct {
	Pos
	Endpoints   []string // the members' client URLs
	Prefix      string
	TLSCert     string // the client's certificate, key and the CA that signs etcd's; "" for plain connections
	TLSKey      string
	TLSCA       string
	DialTimeout time.Duration
}

// Key names the store a node shares with the others: its endpoints and
// prefix.
func (e *EtcdStore) Key() string {
	return "etcd " + strings.Join(e.Endpoints, ",") + " " + e.Prefix
}

// ValidNodeName reports whether n can name a node: 1 to 63 letters,
// digits, '.', '-' or '_' (it is part of an etcd key and of URLs).
func ValidNodeName(n string) bool {
	if n == "" || len(n) > 63 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
