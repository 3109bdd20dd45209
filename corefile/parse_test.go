package corefile

import (
	"fmt"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/internal/testkit"
)

// nearPools are two pools with locations: Frankfurt and Virginia.
const nearPools = `
pool fra {
	address 192.0.2.1
	location 50.11 8.68
	bias 10
}
pool iad {
	address 192.0.2.2
	location 38.95 -77.45
}`

const poolV6 = `
pool v6 {
 address 2001:db8::1
}
`

const poolA = `
pool a {
	address 192.0.2.1
}`

// parseTests are Corefile gtm blocks with the error each must give, or none.
var parseTests = []struct {
	name  string
	input string
	err   string // substring; "" when parsing must succeed
	line  int    // the line the error must name
}{
	// positive
	{"minimal", testkit.Block(poolA + "\ninstance www {\n primary a\n}"), "", 0},
	{"everything", testkit.Block(`
soa ns1.example.org. hostmaster.example.org.
ns ns1.example.org. 192.0.2.53 2001:db8::53
ns ns2.example.net.
pool a {
	address 192.0.2.1 192.0.2.2 weight 10
	address 192.0.2.3 weight 5 mode down
	address 192.0.2.4 mode up
	method weight
	max-answers 2
	min-available 50%
}
pool b {
	address 198.51.100.1
	method sequence
	min-available 1
}
instance www {
	ttl 1m
	switch secondary
	all-down fallback 203.0.113.1 203.0.113.2
	rule default {
		primary a b {
			method weight
			min-available 2
		}
		secondary {
			pool b weight 3
		}
	}
}
instance api.example.org. {
	ttl 10
	primary b
	all-down servfail
}
fallthrough`), "", 0},
	{"apex instance", testkit.Block(poolA + "\ninstance @ {\n primary a\n}"), "", 0},
	{"dual-stack collection", testkit.Block(poolA + poolV6 + "\ninstance www {\n primary a v6\n}"), "", 0},
	{"dual-stack across collections", testkit.Block(poolA + poolV6 + "\ninstance www {\n primary a\n secondary v6\n all-down fallback 192.0.2.9 2001:db8::9\n}"), "", 0},
	{"dual-stack separate", testkit.Block(poolA + poolV6 + "\ninstance www {\n primary a v6\n failover separate\n}"), "", 0},
	{"https and svcb", testkit.Block(poolA + poolV6 + "\ninstance www {\n primary a v6\n https {\n  alpn h2 h3\n  port 8443\n  ech AAT+DQAA\n }\n svcb\n}"), "", 0},
	{"https on a CNAME instance", testkit.Block("pool c {\n address app.example.com\n}\ninstance www {\n primary c\n https\n}"), "", 0},
	{"pinned secondary, every rule has one", "gtm example.org {\ngeoip x.mmdb\n" + poolA + "\ninstance www {\n switch secondary\n primary a\n secondary a\n rule country DE {\n  primary a\n  secondary a\n }\n}\nns ns1.example.org 192.0.2.53\n}", "", 0},
	{"ipv6 and cname pools", testkit.Block(`
pool v6 {
	address 2001:db8::1 2001:db8::2
}
pool names {
	address app.example.com cdn.example.net.
}
instance v6 {
	primary v6
}
instance alias {
	primary names
	all-down nodata
}`), "", 0},

	{"monitors", testkit.Block(`
monitor web {
	protocol https
	interval 5s
	timeout 2s
	rise 3
	fall 2
	port 8443
	method HEAD
	host www.example.org
	path /healthz
	expect 200-299 301 302
	body-regexp "^ok"
	header X-Check gtm
	tls-skip-verify
	tls-server-name www.example.org
	follow-redirects 3
	redirect-hosts www.example.net 192.0.2.80
}
monitor icmp {
	protocol ping
	count 5
	max-loss 20%
}
monitor port {
	protocol tcp
	port 443
	tls
}
pool a {
	monitor web
	address 192.0.2.1 192.0.2.2
	address 192.0.2.3 monitor icmp probe 10.0.0.3
	address 192.0.2.4 monitor port
}
instance www {
	primary a
	failback manual
	degraded-ttl 3
}`), "", 0},

	{"root zone", "gtm . {\n" + poolA + "\ninstance www.example.net {\n primary a\n}\nns ns1.example.net 192.0.2.53\n}", "", 0},
	{"several name servers", testkit.Block(poolA + "\ninstance www {\n primary a\n}\nns ns1.example.org 192.0.2.53 2001:db8::53\nns ns2.example.org 198.51.100.53\nns ns.example.com"), "", 0},
	{"fallthrough needs no ns", "gtm example.org {\n" + poolA + "\ninstance www {\n primary a\n}\nfallthrough\n}", "", 0},
	{"repeatable properties", testkit.Block(`
ns ns1.example.org. 192.0.2.53
ns ns2.example.org. 192.0.2.54
explain 10.0.0.0/8
explain 192.168.0.0/16
monitor web {
	protocol http
	header X-A 1
	header X-B 2
	expect 200
	expect 204
}
pool a {
	monitor web
	address 192.0.2.1
	address 192.0.2.2
}
pool b {
	address 192.0.2.3
}
instance www {
	primary {
		pool a
		pool b weight 2
	}
	rule cidr 10.0.0.0/8 {
		primary a
	}
	rule cidr 10.1.0.0/16 {
		primary b
	}
}`), "", 0},
	{"tie on a latency instance", testkit.Block(poolA + "\ninstance www {\n tie 20%\n policy latency\n primary a\n}"), "", 0},
	{"failback manual switching automatically", testkit.Block(poolA + "\ninstance www {\n switch auto\n failback manual\n primary a\n secondary a\n}"), "", 0},
	{"pinned with failback preemptive", testkit.Block(poolA + "\ninstance www {\n switch primary\n failback preemptive\n primary a\n}"), "", 0},

	// negative
	{"no name server", "gtm example.org {\n" + poolA + "\ninstance www {\n primary a\n}\n}", "zone 'example.org.' needs its name servers", 1},
	{"in-zone ns without address", testkit.Block("ns ns1.example.org"), "ns 'ns1.example.org.' is inside the plugin's zones but has no address", 2},
	{"out-of-zone ns with address", testkit.Block("ns ns1.example.net 192.0.2.53"), "ns 'ns1.example.net.' is outside the plugin's zones", 2},
	{"ns address first", testkit.Block("ns 192.0.2.53"), "ns '192.0.2.53' is an address", 2},
	{"ns bad address", testkit.Block("ns ns1.example.org 192.0.2"), "'192.0.2' is not an IPv4 or IPv6 address", 2},
	{"ns names on one line", testkit.Block("ns ns1.example.org ns2.example.org"), "one name server per line", 2},
	{"duplicate ns", testkit.Block("ns ns1.example.org 192.0.2.53\nns ns1.example.org 192.0.2.54"), "ns 'ns1.example.org.' appears twice (first at line 2)", 3},
	{"ns address twice", testkit.Block("ns ns1.example.org 192.0.2.53 192.0.2.53"), "address 192.0.2.53 of ns 'ns1.example.org.' is given twice", 2},
	{"ns is an instance", testkit.Block(poolA + "\ninstance ns1 {\n primary a\n}\nns ns1.example.org 192.0.2.53"), "ns 'ns1.example.org.' is also an instance", 9},
	{"bad soa name", testkit.Block("soa ns1..example.org hostmaster.example.org"), "SOA name 'ns1..example.org.' of zone 'example.org.' is not a valid domain name", 1},
	{"default soa name too long", "gtm xxxxx.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd {\n" + poolA + "\ninstance www {\n primary a\n}\nfallthrough\n}", "SOA name 'hostmaster.xxxxx.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.' of zone 'xxxxx.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.' is not a valid domain name", 1},
	{"tie on a geo instance", testkit.Block(poolA + "\ninstance www {\n primary a\n tie 20% 10ms\n}"), "tie has no effect: instance 'www.example.org.' uses the geo policy", 8},
	{"tie before policy geo", testkit.Block(poolA + "\ninstance www {\n tie 5ms\n policy geo\n primary a\n}"), "tie has no effect", 7},
	{"failback manual pinned to primary", testkit.Block(poolA + "\ninstance www {\n switch primary\n primary a\n failback manual\n}"), "failback manual has no effect: instance 'www.example.org.' is pinned to its primary collection ('switch primary')", 9},
	{"failback manual pinned to secondary", testkit.Block(poolA + "\ninstance www {\n failback manual\n switch secondary\n primary a\n secondary a\n}"), "is pinned to its secondary collection ('switch secondary')", 7},
	{"tls-skip-verify on tcp without tls", testkit.Block("monitor m {\n protocol tcp\n port 443\n tls-skip-verify\n}"), "tls-skip-verify has no effect: monitor 'm' makes no TLS handshake (only https, and tcp with 'tls', do)", 5},
	{"tls-server-name on tcp without tls", testkit.Block("monitor m {\n protocol tcp\n tls-server-name www.example.org\n port 443\n}"), "tls-server-name has no effect: monitor 'm' makes no TLS handshake", 4},
	{"tls-server-name on http", testkit.Block("monitor m {\n protocol http\n tls-server-name www.example.org\n}"), "option 'tls-server-name' does not apply to a http monitor", 4},
	{"tls-skip-verify on ping", testkit.Block("monitor m {\n protocol ping\n tls-skip-verify\n}"), "option 'tls-skip-verify' does not apply to a ping monitor", 4},
	{"soa twice", testkit.Block("soa ns1.example.org. hostmaster.example.org.\nsoa ns2.example.org. hostmaster.example.org.\n" + poolA), "'soa' is given twice in the gtm block (first at line 2): give it once", 3},
	{"geoip twice", testkit.Block("geoip a.mmdb\ngeoip b.mmdb"), "'geoip' is given twice in the gtm block (first at line 2)", 3},
	{"fallthrough twice", testkit.Block("fallthrough\nfallthrough a.example.org"), "'fallthrough' is given twice in the gtm block", 3},
	{"protocol twice", testkit.Block("monitor m {\n protocol tcp\n port 80\n protocol http\n}"), "'protocol' is given twice in monitor 'm' (first at line 3)", 5},
	{"interval twice", testkit.Block("monitor m {\n protocol ping\n interval 5s\n interval 10s\n}"), "'interval' is given twice in monitor 'm' (first at line 4)", 5},
	{"tls twice", testkit.Block("monitor m {\n protocol tcp\n port 443\n tls\n tls\n}"), "'tls' is given twice in monitor 'm'", 6},
	{"pool method twice", testkit.Block("pool a {\n address 192.0.2.1\n method weight\n method all\n}"), "'method' is given twice in pool 'a' (first at line 4)", 5},
	{"pool monitor twice", testkit.Block("pool a {\n monitor x\n address 192.0.2.1\n monitor y\n}"), "'monitor' is given twice in pool 'a' (first at line 3)", 5},
	{"max-answers twice", testkit.Block("pool a {\n address 192.0.2.1\n max-answers 1\n max-answers 2\n}"), "'max-answers' is given twice in pool 'a'", 5},
	{"ttl twice", testkit.Block(poolA + "\ninstance www {\n ttl 30\n primary a\n ttl 60\n}"), "'ttl' is given twice in instance 'www' (first at line 7)", 9},
	{"all-down twice", testkit.Block(poolA + "\ninstance www {\n primary a\n all-down nodata\n all-down servfail\n}"), "'all-down' is given twice in instance 'www'", 9},
	{"switch twice", testkit.Block(poolA + "\ninstance www {\n primary a\n switch auto\n switch primary\n}"), "'switch' is given twice in instance 'www'", 9},
	{"secondary twice in a rule", testkit.Block(poolA + "\ninstance www {\n rule default {\n  primary a\n  secondary a\n  secondary a\n }\n}"), "'secondary' is given twice in rule 'default' (first at line 9)", 10},
	{"collection method twice", testkit.Block(poolA + "\ninstance www {\n primary a {\n  method weight\n  method all\n }\n}"), "'method' is given twice in the primary collection (first at line 8)", 9},
	{"one-line pool block", testkit.Block("pool a { address 192.0.2.1 }"), "'}' on the line of 'pool': write a block across lines, each property and the closing '}' on a line of its own", 2},
	{"one-line collection block", testkit.Block(poolA + "\ninstance www {\n primary { pool a weight 2 }\n}"), "'}' on the line of 'primary'", 7},
	{"property on the line of '{'", testkit.Block("pool a { address 192.0.2.1\n}"), "'address' follows '{' on the same line: write a block across lines", 2},
	{"'}' at the end of a property", testkit.Block("pool a {\n address 192.0.2.1 }\ninstance www {\n primary a\n}"), "'}' on the line of 'address'", 3},
	{"empty one-line block", testkit.Block(poolA + "\ninstance www {\n primary a { }\n}"), "'}' on the line of 'primary'", 7},
	{"'{' after a property without a block", testkit.Block("pool a {\n address 192.0.2.1 {\n }\n}"), "unexpected '{' after 'address': it opens no block", 3},
	{"monitor without protocol", testkit.Block("monitor m {\n interval 5s\n}"), "monitor 'm' needs a protocol", 2},
	{"timeout not below interval", testkit.Block("monitor m {\n protocol tcp\n port 80\n interval 2s\n timeout 2s\n}"), "timeout 2s of monitor 'm' must be below its interval 2s", 2},
	{"bad interval", testkit.Block("monitor m {\n protocol tcp\n interval soon\n}"), "interval 'soon' is not a duration", 4},
	{"rise out of range", testkit.Block("monitor m {\n protocol tcp\n port 80\n rise 0\n}"), "rise 0 of monitor 'm' is out of range", 2},
	{"port out of range", testkit.Block("monitor m {\n protocol tcp\n port 70000\n}"), "port 70000 of monitor 'm' is out of range (1 to 65535)", 4},
	{"tcp needs port", testkit.Block("monitor m {\n protocol tcp\n}"), "a tcp check needs a port", 2},
	{"unknown protocol", testkit.Block("monitor m {\n protocol smtp\n}"), "unknown protocol 'smtp'", 3},
	{"unknown monitor option", testkit.Block("monitor m {\n protocol http\n colour red\n}"), "unknown property 'colour' in monitor 'm'", 4},
	{"option of another protocol", testkit.Block("monitor m {\n protocol tcp\n port 80\n path /x\n}"), "option 'path' does not apply to a tcp monitor", 5},
	{"bad expect", testkit.Block("monitor m {\n protocol http\n expect 299-200\n}"), "expected status '299-200' is not a code or a range", 4},
	{"bad regexp", testkit.Block("monitor m {\n protocol http\n body-regexp (\n}"), "body-regexp '(' does not compile", 4},
	{"host as a header", testkit.Block("monitor m {\n protocol http\n header host www.example.org\n}"), "'header host' is not allowed: set the Host header with 'host www.example.org'", 4},
	{"follow-redirects count", testkit.Block("monitor m {\n protocol http\n follow-redirects 50\n}"), "follow-redirects 50 of monitor 'm' is out of range (1 to 20)", 4},
	{"redirect-hosts with a port", testkit.Block("monitor m {\n protocol http\n follow-redirects\n redirect-hosts a.example:80\n}"), "redirect host 'a.example:80' is not a host name or address", 5},
	{"redirect-hosts without following", testkit.Block("monitor m {\n protocol http\n redirect-hosts a.example\n}"), "monitor 'm' has redirect-hosts but does not follow redirects", 2},
	{"redirect-hosts for tcp", testkit.Block("monitor m {\n protocol tcp\n port 80\n redirect-hosts a.example\n}"), "option 'redirect-hosts' does not apply to a tcp monitor", 5},
	{"bad max-loss", testkit.Block("monitor m {\n protocol ping\n max-loss 20\n}"), "max-loss '20' is not a share like 20%", 4},
	{"unknown monitor", testkit.Block("pool a {\n monitor nope\n address 192.0.2.1\n}"), "unknown monitor 'nope'", 2},
	{"unknown address monitor", testkit.Block("pool a {\n address 192.0.2.1 monitor nope\n}"), "unknown monitor 'nope'", 3},
	{"duplicate monitor", testkit.Block("monitor m {\n protocol ping\n}\nmonitor m {\n protocol ping\n}"), "duplicate monitor 'm'", 5},
	{"bad probe target", testkit.Block("pool a {\n address 192.0.2.1 probe 300.1.1.1/8\n}"), "probe target '300.1.1.1/8'", 3},
	{"unknown failback", testkit.Block(poolA + "\ninstance www {\n primary a\n failback later\n}"), "unknown failback 'later' (one of preemptive, manual)", 8},
	{"degraded ttl above ttl", testkit.Block(poolA + "\ninstance www {\n primary a\n ttl 10\n degraded-ttl 20\n}"), "degraded-ttl 20 of instance 'www.example.org.' is above its ttl 10", 6},
	{"unknown property", testkit.Block("colour blue"), "unknown property 'colour'", 2},
	{"unknown pool property", testkit.Block("pool a {\n address 192.0.2.1\n shape round\n}"), "unknown property 'shape' in pool 'a'", 4},
	{"unknown instance property", testkit.Block(poolA + "\ninstance www {\n primary a\n colour red\n}"), "unknown property 'colour' in instance 'www'", 8},
	{"unknown pool", testkit.Block(poolA + "\ninstance www {\n primary b\n}"), "unknown pool 'b'", 7},
	{"unknown pool in block", testkit.Block(poolA + "\ninstance www {\n primary {\n  pool nope weight 2\n }\n}"), "unknown pool 'nope'", 8},
	{"duplicate pool", testkit.Block(poolA + poolA + "\ninstance www {\n primary a\n}"), "duplicate pool 'a' (first defined at line 3)", 6},
	{"duplicate instance", testkit.Block(poolA + "\ninstance www {\n primary a\n}\ninstance www.example.org. {\n primary a\n}"), "duplicate instance 'www.example.org.'", 9},
	{"mixed pool types", testkit.Block(poolA + "\npool b {\n address app.example.com\n}\ninstance www {\n primary a b\n}"), "collection mixes pool types: 'a' holds A records, 'b' holds CNAME (only A and AAAA pools mix, in a dual-stack collection)", 10},
	{"secondary of another type", testkit.Block(poolA + "\npool b {\n address app.example.com\n}\ninstance www {\n primary a\n secondary b\n}"), "collection serves CNAME records but instance 'www.example.org.' already serves A", 11},
	// dual-stack and HTTPS/SVCB
	{"failover on a single-stack instance", testkit.Block(poolA + "\ninstance www {\n primary a\n failover separate\n}"), "failover has no effect: instance 'www.example.org.' serves only A records", 8},
	{"unknown failover", testkit.Block(poolA + poolV6 + "\ninstance www {\n primary a v6\n failover apart\n}"), "unknown failover 'apart' (one of together, separate)", 12},
	{"separate without both families", testkit.Block(poolA + poolV6 + "\ninstance www {\n primary a v6\n secondary a\n failover separate\n}"), "secondary collection of rule 'default' holds no AAAA pool, but instance 'www.example.org.' fails over separately", 12},
	{"separate min-available per family", testkit.Block(poolA + poolV6 + "pool a2 {\n address 192.0.2.2\n}\ninstance www {\n primary a a2 v6 {\n  min-available 2\n }\n failover separate\n}"), "min-available 2 of the primary collection of rule 'default' can never be met by its 1 AAAA pools", 14},
	{"fallback of the other family", testkit.Block(poolA + "\ninstance www {\n primary a\n all-down fallback 2001:db8::9\n}"), "fallback 2001:db8::9 is AAAA data but instance 'www.example.org.' serves A records", 8},
	{"https port out of range", testkit.Block(poolA + "\ninstance www {\n primary a\n https {\n  port 70000\n }\n}"), "port '70000' is not a port from 1 to 65535", 9},
	{"https unknown param", testkit.Block(poolA + "\ninstance www {\n primary a\n https {\n  mandatory alpn\n }\n}"), "unknown property 'mandatory' in https (alpn, port, ech)", 9},
	{"https bad ech", testkit.Block(poolA + "\ninstance www {\n primary a\n https {\n  ech not-base64!\n }\n}"), "https ech of instance 'www.example.org.' is not an ECHConfigList in base64", 8},
	{"https ech of the wrong length", testkit.Block(poolA + "\ninstance www {\n primary a\n https {\n  ech AEX+DQBB\n }\n}"), "https ech of instance 'www.example.org.' is not an ECHConfigList", 8},
	{"https alpn with a comma", testkit.Block(poolA + "\ninstance www {\n primary a\n https {\n  alpn h2,h3\n }\n}"), "https alpn 'h2,h3' of instance 'www.example.org.' has a character", 8},
	{"https alpn twice", testkit.Block(poolA + "\ninstance www {\n primary a\n svcb {\n  alpn h2 h2\n }\n}"), "svcb alpn 'h2' of instance 'www.example.org.' is given twice", 8},
	{"https params on a CNAME instance", testkit.Block("pool c {\n address app.example.com\n}\ninstance www {\n primary c\n https {\n  alpn h2\n }\n}"), "https parameters of instance 'www.example.org.' have no effect: its pools are domain names", 7},
	{"https given twice", testkit.Block(poolA + "\ninstance www {\n primary a\n https\n https\n}"), "'https' is given twice in instance 'www'", 9},
	{"https with a stray word", testkit.Block(poolA + "\ninstance www {\n primary a\n https on\n}"), "https: unexpected 'on'", 8},
	{"weight too high", testkit.Block("pool a {\n address 192.0.2.1 weight 101\n}"), "weight 101 of address 192.0.2.1 is out of range (1 to 100)", 3},
	{"weight zero", testkit.Block("pool a {\n address 192.0.2.1 weight 0\n}"), "weight 0 of address 192.0.2.1 is out of range", 3},
	{"pool weight out of range", testkit.Block(poolA + "\ninstance www {\n primary {\n  pool a weight 500\n }\n}"), "weight 500 of pool 'a' is out of range", 8},
	{"weight not a number", testkit.Block("pool a {\n address 192.0.2.1 weight heavy\n}"), "weight 'heavy' is not a whole number", 3},
	{"ipv6 in an A pool", testkit.Block("pool a {\n address 192.0.2.1\n address 2001:db8::1\n}"), "address 2001:db8::1 is AAAA data but pool 'a' holds A records", 4},
	{"name in an A pool", testkit.Block("pool a {\n address 192.0.2.1\n address app.example.com\n}"), "is CNAME data but pool 'a' holds A records", 4},
	{"instance outside zones", testkit.Block(poolA + "\ninstance www.example.com. {\n primary a\n}"), "instance 'www.example.com.' is outside the plugin's zones", 6},
	{"empty pool", testkit.Block("pool a {\n}"), "pool 'a' has no addresses", 2},
	{"pool without block", testkit.Block("pool a\n"), "pool 'a' needs a block", 2},
	{"bad duration", testkit.Block(poolA + "\ninstance www {\n ttl 30 seconds\n primary a\n}"), "'ttl' has too many values", 7},
	{"bad duration unit", testkit.Block(poolA + "\ninstance www {\n ttl 3x\n primary a\n}"), "ttl '3x' is not a number of seconds or a duration", 7},
	{"ttl out of range", testkit.Block(poolA + "\ninstance www {\n ttl 90000\n primary a\n}"), "ttl 90000 of instance 'www.example.org.' is out of range", 6},
	{"ttl fraction", testkit.Block(poolA + "\ninstance www {\n ttl 1.5s\n primary a\n}"), "ttl '1.5s' must be whole seconds", 7},
	{"missing ttl value", testkit.Block(poolA + "\ninstance www {\n ttl\n primary a\n}"), "'ttl' is missing a value", 7},
	{"missing method value", testkit.Block("pool a {\n address 192.0.2.1\n method\n}"), "'method' is missing a value", 4},
	{"missing address value", testkit.Block("pool a {\n address\n}"), "'address' is missing a value", 3},
	{"missing mode value", testkit.Block("pool a {\n address 192.0.2.1 mode\n}"), "'address' needs a value after 'mode'", 3},
	{"unknown method", testkit.Block("pool a {\n address 192.0.2.1\n method random\n}"), "unknown method 'random'", 4},
	{"unknown mode", testkit.Block("pool a {\n address 192.0.2.1 mode drain\n}"), "unknown mode 'drain'", 3},
	{"bad address", testkit.Block("pool a {\n address 300.1.1.1\n}"), "'300.1.1.1' is neither an IP address nor a domain name", 3},
	{"mapped address", testkit.Block("pool a {\n address ::ffff:192.0.2.1\n}"), "is IPv4-mapped IPv6; write it as 192.0.2.1", 3},
	{"duplicate address", testkit.Block("pool a {\n address 192.0.2.1\n address 192.0.2.1\n}"), "address 192.0.2.1 appears twice in pool 'a' (also at line 3)", 4},
	{"max-answers zero", testkit.Block("pool a {\n address 192.0.2.1\n max-answers 0\n}"), "max-answers 0 of pool 'a' is out of range (1 to 64)", 4},
	{"min-available above size", testkit.Block("pool a {\n address 192.0.2.1\n min-available 2\n}"), "min-available 2 of pool 'a' can never be met", 2},
	{"min-available share", testkit.Block("pool a {\n address 192.0.2.1\n min-available 150%\n}"), "min-available 150% of pool 'a' is out of range (1% to 100%)", 4},
	{"min-available not a number", testkit.Block("pool a {\n address 192.0.2.1\n min-available most\n}"), "min-available 'most' is not a count of at least 1 or a share like 50%", 4},
	{"address with a zone", testkit.Block("pool a {\n address fe80::1%eth0\n}"), "address 'fe80::1%eth0' has a zone", 3},
	{"ns address with a zone", testkit.Block("ns ns1.example.org fe80::1%eth0"), "ns 'ns1.example.org.': 'fe80::1%eth0' is not an IPv4 or IPv6 address", 2},
	{"max-answers not a number", testkit.Block("pool a {\n address 192.0.2.1\n max-answers many\n}"), "max-answers 'many' is not a whole number", 4},
	{"ttl zero", testkit.Block(poolA + "\ninstance www {\n ttl 0s\n primary a\n}"), "ttl 0 of instance 'www.example.org.' is out of range", 6},
	{"collection min-available", testkit.Block(poolA + "\ninstance www {\n primary a {\n  min-available 3\n }\n}"), "min-available 3 of collection can never be met", 7},
	{"instance without collection", testkit.Block(poolA + "\ninstance www {\n ttl 30\n}"), "instance 'www.example.org.' has no access rule", 6},
	{"second primary", testkit.Block(poolA + "\ninstance www {\n primary a\n primary a\n}"), "'primary' is given twice in instance 'www' (first at line 7): give it once", 8},
	{"second default rule", testkit.Block(poolA + "\ninstance www {\n primary a\n rule default {\n  primary a\n }\n}"), "second 'default' rule", 8},
	{"unknown rule match", testkit.Block(poolA + "\ninstance www {\n rule planet mars {\n  primary a\n }\n}"), "unknown rule match 'planet' (one of default, continent, country, subdivision, cidr, asn)", 7},
	{"rule without primary", testkit.Block(poolA + "\ninstance www {\n rule default {\n  secondary a\n }\n}"), "rule 'default' of instance 'www.example.org.' has no primary collection", 7},
	{"unknown switch", testkit.Block(poolA + "\ninstance www {\n primary a\n switch sideways\n}"), "unknown switch 'sideways' (one of auto, primary, secondary)", 8},
	{"unknown all-down", testkit.Block(poolA + "\ninstance www {\n primary a\n all-down panic\n}"), "unknown all-down behaviour 'panic'", 8},
	{"fallback without address", testkit.Block(poolA + "\ninstance www {\n primary a\n all-down fallback\n}"), "'all-down fallback' is missing a value", 8},
	{"fallback of wrong type", testkit.Block(poolA + "\ninstance www {\n primary a\n all-down fallback 2001:db8::9\n}"), "fallback 2001:db8::9 is AAAA data but instance 'www.example.org.' serves A records", 8},
	{"nodata takes no values", testkit.Block(poolA + "\ninstance www {\n primary a\n all-down nodata 192.0.2.1\n}"), "'all-down nodata' takes no values", 8},
	{"relative name with two zones", "gtm example.org example.net {\n" + poolA + "\ninstance www {\n primary a\n}\n}", "instance name 'www' is relative but the plugin serves 2 zones", 6},
	{"zone needing escapes", "gtm exa\\\"mple.org {\n" + poolA + "\ninstance www {\n primary a\n}\n}", "is not a valid domain name", 1},
	{"bad domain address", testkit.Block("pool a {\n address app..example.com\n}"), "is neither an IP address nor a domain name", 3},
	{"cname at the apex", testkit.Block("pool n {\n address app.example.com\n}\ninstance @ {\n primary n\n}"), "instance 'example.org.' is a zone apex: it cannot be a CNAME", 5},
	{"pinned secondary without one", testkit.Block(poolA + "\ninstance www {\n primary a\n switch secondary\n}"), "rule 'default' of instance 'www.example.org.' has no secondary collection, but the instance is pinned to its secondary ('switch secondary')", 7},
	{"pinned secondary, one rule without", "gtm example.org {\ngeoip x.mmdb\n" + poolA + "\ninstance www {\n switch secondary\n primary a\n secondary a\n rule country DE AT {\n  primary a\n }\n}\n}", "rule 'country DE AT' of instance 'www.example.org.' has no secondary collection", 11},
	{"wildcard name", testkit.Block(poolA + "\ninstance *.www {\n primary a\n}"), "is not a valid domain name", 6},
	{"geo rule without database", testkit.Block(poolA + "\ninstance www {\n primary a\n rule country DE {\n  primary a\n }\n}"), "rule 'country' needs a GeoIP database", 8},
	{"unknown country", "gtm example.org {\ngeoip x.mmdb\n" + poolA + "\ninstance www {\n primary a\n rule country XX {\n  primary a\n }\n}\n}", "unknown country code 'XX'", 9},
	{"unknown continent", "gtm example.org {\ngeoip x.mmdb\n" + poolA + "\ninstance www {\n primary a\n rule continent XY {\n  primary a\n }\n}\n}", "unknown continent code 'XY'", 9},
	{"unknown subdivision", "gtm example.org {\ngeoip x.mmdb\n" + poolA + "\ninstance www {\n primary a\n rule subdivision US-ZZ {\n  primary a\n }\n}\n}", "unknown subdivision code 'US-ZZ'", 9},
	{"bad cidr", testkit.Block(poolA + "\ninstance www {\n primary a\n rule cidr 10.0.0.0/33 {\n  primary a\n }\n}"), "'10.0.0.0/33' is not a CIDR prefix", 8},
	{"cidr with host bits", testkit.Block(poolA + "\ninstance www {\n primary a\n rule cidr 10.1.2.3/8 {\n  primary a\n }\n}"), "prefix '10.1.2.3/8' has bits set past its length; write 10.0.0.0/8", 8},
	{"mapped cidr", testkit.Block(poolA + "\ninstance www {\n primary a\n rule cidr ::ffff:10.0.0.0/104 {\n  primary a\n }\n}"), "is IPv4-mapped; write the IPv4 prefix", 8},
	{"same cidr twice", testkit.Block(poolA + "\ninstance www {\n primary a\n rule cidr 10.0.0.0/8 {\n  primary a\n }\n rule cidr 10.0.0.0/8 {\n  primary a\n }\n}"), "has 'cidr 10.0.0.0/8' in two rules (first at line 8)", 11},
	{"rule without values", testkit.Block(poolA + "\ninstance www {\n primary a\n rule cidr {\n  primary a\n }\n}"), "rule 'cidr' needs at least one value", 8},
	{"no default rule", testkit.Block(poolA + "\ninstance www {\n rule cidr 10.0.0.0/8 {\n  primary a\n }\n}"), "has no default rule", 6},
	{"latency with rules", testkit.Block(poolA + "\ninstance www {\n policy latency\n primary a\n rule cidr 10.0.0.0/8 {\n  primary a\n }\n}"), "uses the latency policy: it takes only a default rule", 9},
	{"unknown policy", testkit.Block(poolA + "\ninstance www {\n policy random\n primary a\n}"), "unknown policy 'random' (one of geo, latency, nearest)", 7},
	{"bad ecs", testkit.Block(poolA + "\ninstance www {\n ecs maybe\n primary a\n}"), "unknown ecs 'maybe' (one of on, off)", 7},
	{"bad tie", testkit.Block(poolA + "\ninstance www {\n tie soon\n primary a\n}"), "tie 'soon' is neither a share", 7},
	// nearest: positive
	{"nearest", "gtm example.org {\ngeoip x.mmdb\nns ns1.example.org 192.0.2.53\n" + nearPools + "\ninstance www {\n policy nearest\n tie 20% 150km\n primary fra iad {\n  method all\n }\n secondary iad\n rule cidr 10.0.0.0/8 {\n  primary iad\n }\n}\n}", "", 0},
	{"location on a geo pool", testkit.Block("pool a {\n address 192.0.2.1\n location -33.87 151.21\n bias -20\n}\ninstance www {\n primary a\n}"), "", 0},
	// nearest: negative
	{"latitude out of range", testkit.Block("pool a {\n address 192.0.2.1\n location 91 8.68\n}\ninstance www {\n primary a\n}"), "latitude 91 of pool 'a' is out of range (-90 to 90 degrees)", 4},
	{"longitude out of range", testkit.Block("pool a {\n address 192.0.2.1\n location 50.11 -180.5\n}\ninstance www {\n primary a\n}"), "longitude -180.5 of pool 'a' is out of range (-180 to 180 degrees)", 4},
	{"latitude not a number", testkit.Block("pool a {\n address 192.0.2.1\n location north 8.68\n}\ninstance www {\n primary a\n}"), "latitude 'north' is not a number of decimal degrees", 4},
	{"latitude NaN", testkit.Block("pool a {\n address 192.0.2.1\n location NaN 8.68\n}\ninstance www {\n primary a\n}"), "latitude 'NaN' is not a number", 4},
	{"location one value", testkit.Block("pool a {\n address 192.0.2.1\n location 50.11\n}\ninstance www {\n primary a\n}"), "LATITUDE LONGITUDE", 4},
	{"bias out of range", testkit.Block("pool a {\n address 192.0.2.1\n location 50.11 8.68\n bias 100\n}\ninstance www {\n primary a\n}"), "bias 100 of pool 'a' is out of range (-99 to 99)", 5},
	{"bias below range", testkit.Block("pool a {\n address 192.0.2.1\n location 50.11 8.68\n bias -100\n}\ninstance www {\n primary a\n}"), "bias -100 of pool 'a' is out of range (-99 to 99)", 5},
	{"bias without location", testkit.Block("pool a {\n address 192.0.2.1\n bias 10\n}\ninstance www {\n primary a\n}"), "bias of pool 'a' has no effect without a location", 4},
	{"bias not a number", testkit.Block("pool a {\n address 192.0.2.1\n location 50.11 8.68\n bias lots\n}\ninstance www {\n primary a\n}"), "bias 'lots' is not a whole number", 5},
	{"nearest pool without location", "gtm example.org {\ngeoip x.mmdb\n" + nearPools + "\npool nowhere {\n address 192.0.2.9\n}\ninstance www {\n policy nearest\n primary fra nowhere\n}\n}", "pool 'nowhere' has no location, but instance 'www.example.org.' uses the nearest policy", 18},
	{"nearest without database", testkit.Block(nearPools + "\ninstance www {\n policy nearest\n primary fra iad\n}"), "policy nearest of instance 'www.example.org.' needs a GeoIP City database", 13},
	{"nearest tie duration", "gtm example.org {\ngeoip x.mmdb\n" + nearPools + "\ninstance www {\n policy nearest\n tie 5ms\n primary fra iad\n}\n}", "tie 5ms of instance 'www.example.org.' is a duration, which only the latency policy compares", 15},
	{"latency tie distance", testkit.Block(nearPools + "\ninstance www {\n policy latency\n tie 100km\n primary fra iad\n}"), "tie 100km of instance 'www.example.org.' is a distance, which only the nearest policy compares", 14},
	{"nearest tie too far", "gtm example.org {\ngeoip x.mmdb\n" + nearPools + "\ninstance www {\n policy nearest\n tie 30000km\n primary fra iad\n}\n}", "tie 30000km of instance 'www.example.org.' is out of range (0 to 20038km)", 15},
	{"nearest tie bad distance", "gtm example.org {\ngeoip x.mmdb\n" + nearPools + "\ninstance www {\n policy nearest\n tie 1.5km\n primary fra iad\n}\n}", "tie '1.5km' is not a distance in whole kilometres", 15},
	// zone parameters: positive
	{"soa timers", testkit.Block(poolA + "\ninstance www {\n primary a\n}\nsoa {\n refresh 1h\n retry 600\n expire 336h\n minimum 5m\n}\nns-ttl 1h"), "", 0},
	{"soa names and timers", testkit.Block(poolA + "\ninstance www {\n primary a\n}\nsoa ns1.example.org hostmaster.example.com {\n minimum 300\n}"), "", 0},
	// zone parameters: negative
	{"soa minimum zero", testkit.Block(poolA + "\ninstance www {\n primary a\n}\nsoa {\n minimum 0\n}"), "soa minimum 0 is out of range (1 to 86400 seconds)", 10},
	{"soa minimum too long", testkit.Block(poolA + "\ninstance www {\n primary a\n}\nsoa {\n minimum 48h\n}"), "soa minimum 172800 is out of range (1 to 86400 seconds)", 10},
	{"soa refresh too short", testkit.Block(poolA + "\ninstance www {\n primary a\n}\nsoa {\n refresh 10\n}"), "soa refresh 10 is out of range (60 to 2419200 seconds)", 10},
	{"soa retry not below refresh", testkit.Block(poolA + "\ninstance www {\n primary a\n}\nsoa {\n refresh 1h\n retry 2h\n}"), "soa retry 7200 must be below refresh 3600", 11},
	{"soa retry above default refresh", testkit.Block(poolA + "\ninstance www {\n primary a\n}\nsoa {\n retry 3h\n}"), "soa retry 10800 must be below refresh 7200", 10},
	{"soa expire too short", testkit.Block(poolA + "\ninstance www {\n primary a\n}\nsoa {\n expire 3600\n}"), "soa expire 3600 must be at least refresh + retry (9000)", 10},
	{"soa expire too long", testkit.Block(poolA + "\ninstance www {\n primary a\n}\nsoa {\n expire 1440h\n}"), "soa expire 5184000 is out of range (60 to 2419200 seconds)", 10},
	{"soa timer not a number", testkit.Block(poolA + "\ninstance www {\n primary a\n}\nsoa {\n retry soon\n}"), "retry 'soon' is not whole seconds like 3600 or a duration like 1h", 10},
	{"soa unknown timer", testkit.Block(poolA + "\ninstance www {\n primary a\n}\nsoa {\n serial 1\n}"), "unknown property 'serial' in soa (refresh, retry, expire, minimum)", 10},
	{"soa one name", testkit.Block(poolA + "\ninstance www {\n primary a\n}\nsoa ns1.example.org"), "'soa' takes both names or neither, got 1", 9},
	{"soa timer twice", testkit.Block(poolA + "\ninstance www {\n primary a\n}\nsoa {\n retry 60\n retry 120\n}"), "'retry' is given twice in soa (first at line 10)", 11},
	{"ns-ttl zero", testkit.Block(poolA + "\ninstance www {\n primary a\n}\nns-ttl 0"), "ns-ttl 0 is out of range (1 to 86400 seconds)", 9},
	{"ns-ttl too long", testkit.Block(poolA + "\ninstance www {\n primary a\n}\nns-ttl 48h"), "ns-ttl 172800 is out of range (1 to 86400 seconds)", 9},
	// hash method: positive
	{"hash", testkit.Block("pool a {\n address 192.0.2.1 192.0.2.2 weight 2\n method hash 24 56\n max-answers 2\n}\ninstance www {\n primary a\n}"), "", 0},
	{"hash defaults", testkit.Block("pool a {\n address 192.0.2.1 192.0.2.2\n method hash\n}\ninstance www {\n primary a\n}"), "", 0},
	{"hash ipv4 only", testkit.Block("pool a {\n address 2001:db8::1 2001:db8::2\n method hash 20\n}\ninstance www {\n primary a\n}"), "", 0},
	// hash method: negative
	{"hash ipv4 out of range", testkit.Block("pool a {\n address 192.0.2.1\n method hash 33\n}\ninstance www {\n primary a\n}"), "hash IPv4 prefix length 33 of pool 'a' is out of range (1 to 32)", 4},
	{"hash ipv4 zero", testkit.Block("pool a {\n address 192.0.2.1\n method hash 0\n}\ninstance www {\n primary a\n}"), "hash IPv4 prefix length 0 of pool 'a' is out of range (1 to 32)", 4},
	{"hash ipv6 out of range", testkit.Block("pool a {\n address 192.0.2.1\n method hash 24 129\n}\ninstance www {\n primary a\n}"), "hash IPv6 prefix length 129 of pool 'a' is out of range (1 to 128)", 4},
	{"hash prefix not a number", testkit.Block("pool a {\n address 192.0.2.1\n method hash /24\n}\ninstance www {\n primary a\n}"), "hash prefix length '/24' is not a whole number", 4},
	{"prefix without hash", testkit.Block("pool a {\n address 192.0.2.1\n method weight 24\n}\ninstance www {\n primary a\n}"), "method weight takes no values, got \"24\"", 4},
	{"hash too many values", testkit.Block("pool a {\n address 192.0.2.1\n method hash 24 56 8\n}\ninstance www {\n primary a\n}"), "'method' has too many values", 4},
	{"hash between pools", testkit.Block(poolA + "\ninstance www {\n primary a {\n  method hash\n }\n}"), "method hash picks addresses within a pool", 8},
	// asn rules: positive
	{"asn", "gtm example.org {\nasn asn.mmdb\nns ns1.example.org 192.0.2.53\n" + poolA + "\ninstance www {\n primary a\n rule asn 4134 AS4837 {\n  primary a\n }\n rule cidr 10.0.0.0/8 {\n  primary a\n }\n}\n}", "", 0},
	{"asn with geoip", "gtm example.org {\nasn asn.mmdb\ngeoip city.mmdb\nns ns1.example.org 192.0.2.53\n" + poolA + "\ninstance www {\n primary a\n rule asn 3320 {\n  primary a\n }\n rule country DE {\n  primary a\n }\n}\n}", "", 0},
	// asn rules: negative
	{"asn without database", testkit.Block(poolA + "\ninstance www {\n primary a\n rule asn 4134 {\n  primary a\n }\n}"), "rule 'asn' needs an ASN database: add 'asn FILE'", 8},
	{"asn not a number", "gtm example.org {\nasn asn.mmdb\nns ns1.example.org 192.0.2.53\n" + poolA + "\ninstance www {\n primary a\n rule asn CHINANET {\n  primary a\n }\n}\n}", "'CHINANET' is not an autonomous system number like 4134 or AS4134 (1 to 4294967295)", 10},
	{"asn zero", "gtm example.org {\nasn asn.mmdb\nns ns1.example.org 192.0.2.53\n" + poolA + "\ninstance www {\n primary a\n rule asn 0 {\n  primary a\n }\n}\n}", "'0' is not an autonomous system number", 10},
	{"asn too large", "gtm example.org {\nasn asn.mmdb\nns ns1.example.org 192.0.2.53\n" + poolA + "\ninstance www {\n primary a\n rule asn 4294967296 {\n  primary a\n }\n}\n}", "'4294967296' is not an autonomous system number", 10},
	{"asn in two rules", "gtm example.org {\nasn asn.mmdb\nns ns1.example.org 192.0.2.53\n" + poolA + "\ninstance www {\n primary a\n rule asn 4134 {\n  primary a\n }\n rule asn AS4134 {\n  primary a\n }\n}\n}", "has 'asn 4134' in two rules (first at line 10)", 13},
	{"asn file missing", "gtm example.org {\nasn\nns ns1.example.org 192.0.2.53\n}", "'asn' is missing a value (usage: asn FILE)", 2},
	{"no block", "gtm example.org", "gtm needs a configuration block", 1},
	{"unclosed block", "gtm example.org {\n pool a {\n address 192.0.2.1\n", "Unexpected EOF", 3},
}

func TestParse(t *testing.T) {
	for _, tc := range parseTests {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			cfg, _, err := Parse(c)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if cfg == nil {
					t.Fatal("no config")
				}
				return
			}
			if err == nil {
				t.Fatalf("expected error containing %q, got none", tc.err)
			}
			if !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %q does not contain %q", err, tc.err)
			}
			if where := fmt.Sprintf("Testfile:%d - ", tc.line); !strings.Contains(err.Error(), where) {
				t.Fatalf("error %q does not name %q", err, where)
			}
		})
	}
}

// TestParseValues checks that what was written is what the model holds.
func TestParseValues(t *testing.T) {
	c := caddy.NewTestController("dns", testkit.Block(`
soa ns1.example.org. hostmaster.example.org.
pool a {
	address 192.0.2.1 192.0.2.2 weight 10
	address 192.0.2.3 weight 5 mode down
	method weight
	max-answers 2
	min-available 50%
}
pool names {
	address App.Example.COM
}
instance WWW {
	ttl 2m
	switch primary
	all-down fallback 203.0.113.1
	primary a {
		method sequence
	}
}
instance alias {
	primary names
}
fallthrough sub.example.org`))
	cfg, fl, err := Parse(c)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Pools[0]
	if len(a.Addresses) != 3 || a.Addresses[1].Weight != 10 || a.Addresses[2].Weight != 5 || a.Addresses[2].Mode != config.ModeDown || a.Addresses[0].Mode != config.ModeAuto {
		t.Errorf("pool a addresses parsed wrong: %+v %+v %+v", *a.Addresses[0], *a.Addresses[1], *a.Addresses[2])
	}
	if a.Method != config.MethodWeight || a.MaxAnswers != 2 || a.MinAvailable.Percent != 50 || a.Type != config.TypeA {
		t.Errorf("pool a options parsed wrong: %+v", a)
	}
	if got := cfg.Pools[1].Addresses[0].Domain; got != "app.example.com." {
		t.Errorf("domain address = %q, want app.example.com.", got)
	}
	in := cfg.Instances[0]
	if in.Name != "www.example.org." || in.TTL != 120 || in.Switch != config.SwitchPrimary || in.AllDown != config.Fallback || len(in.Fallbacks) != 1 {
		t.Errorf("instance parsed wrong: %+v", in)
	}
	if r := in.Rules[0]; r.Match != config.MatchDefault || r.Primary.Method != config.MethodSequence || r.Secondary != nil {
		t.Errorf("rule parsed wrong: %+v", r)
	}
	if cfg.SOA.MName != "ns1.example.org." || cfg.SOA.RName != "hostmaster.example.org." {
		t.Errorf("soa parsed wrong: %+v", cfg.SOA)
	}
	if !fl.Through("x.sub.example.org.") || fl.Through("www.example.org.") {
		t.Errorf("fallthrough zones wrong: %+v", fl)
	}
}

// Names relative to the root zone join it without a doubled dot (item 1).
func TestParseRootZoneNames(t *testing.T) {
	cfg, _, err := Parse(caddy.NewTestController("dns", "gtm . {\n"+poolA+"\ninstance www.example.net {\n primary a\n}\nns ns1.example.net 192.0.2.53\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Instances[0].Name; got != "www.example.net." {
		t.Errorf("instance name %q, want www.example.net.", got)
	}
	if m, r := cfg.SOANames("."); m != "ns1.example.net." || r != "hostmaster." {
		t.Errorf("SOA names %q %q, want ns1.example.net. hostmaster.", m, r)
	}
}

func TestParseOnce(t *testing.T) {
	c := caddy.NewTestController("dns", testkit.Block(poolA+"\ninstance www {\n primary a\n}")+"\n"+testkit.Block(poolA+"\ninstance www {\n primary a\n}"))
	if _, _, err := Parse(c); err == nil {
		t.Fatal("two gtm blocks in one server block must be refused")
	}
}

func TestUnusedMonitorWarns(t *testing.T) {
	cfg, _, err := Parse(caddy.NewTestController("dns", testkit.Block("monitor idle {\n protocol ping\n}\n"+poolA+"\ninstance www {\n primary a\n}")))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "Testfile:2 - monitor 'idle' is not used") {
		t.Fatalf("warnings %q, want one naming the unused monitor and its line", cfg.Warnings)
	}
}
