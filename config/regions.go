package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/biter777/countries"
)

// MatchKind is what an access rule matches. A CIDR match wins over an
// autonomous system, then a subdivision, a country, a continent and the
// default rule. (MatchASN came last, so the values before it keep their
// meaning in digests.)
type MatchKind uint8

const (
	MatchDefault     MatchKind = iota // every client
	MatchContinent                    // MaxMind continent codes
	MatchCountry                      // ISO 3166-1 alpha-2 codes
	MatchSubdivision                  // ISO 3166-2 codes
	MatchCIDR                         // client networks
	MatchASN                          // autonomous system numbers, from an ASN database
)

var matchNames = []string{"default", "continent", "country", "subdivision", "cidr", "asn"}

func (k MatchKind) String() string {
	if int(k) < len(matchNames) {
		return matchNames[k]
	}
	return "unknown"
}

// ParseMatchKind reads a rule match keyword.
func ParseMatchKind(s string) (MatchKind, bool) { return parseName[MatchKind](matchNames, s) }

// Policy is an instance's access-policy type.
type Policy uint8

const (
	PolicyGeo     Policy = iota // access rules by where the client is
	PolicyLatency               // the lowest-latency pools of the active collection
	PolicyNearest               // the pools of the active collection nearest to the client
)

var policyNames = []string{"geo", "latency", "nearest"}

func (p Policy) String() string { return policyNames[p] }

// ParsePolicy reads a policy keyword.
func ParsePolicy(s string) (Policy, bool) { return parseName[Policy](policyNames, s) }

// Latency defaults.
const (
	DefaultTiePercent = 10
	DefaultTie        = 5 * time.Millisecond
)

// continents are MaxMind's continent codes.
var continents = map[string]bool{"AF": true, "AN": true, "AS": true, "EU": true, "NA": true, "OC": true, "SA": true}

// CheckVantageValue checks a vantage's continent or country code, as a
// rule's are checked.
func CheckVantageValue(match MatchKind, v string) (string, error) { return checkValue(match, v) }

// checkValue checks one value of a rule of kind match and returns it in the
// form the matcher uses.
func checkValue(match MatchKind, v string) (string, error) {
	switch match {
	case MatchContinent:
		if u := strings.ToUpper(v); continents[u] {
			return u, nil
		}
		return "", fmt.Errorf("unknown continent code '%s' (one of AF, AN, AS, EU, NA, OC, SA)", v)
	case MatchCountry:
		u := strings.ToUpper(v)
		if len(u) == 2 && countries.ByName(u).Alpha2() == u {
			return u, nil
		}
		return "", fmt.Errorf("unknown country code '%s' (ISO 3166-1 alpha-2, like DE or US)", v)
	case MatchSubdivision:
		u := strings.ToUpper(v)
		if countries.SubdivisionCode(u).IsValid() {
			return u, nil
		}
		return "", fmt.Errorf("unknown subdivision code '%s' (ISO 3166-2, like US-CA or DE-BY)", v)
	case MatchASN:
		// "4134" or "AS4134", as operators and MaxMind's own tools write it.
		digits := strings.TrimPrefix(strings.TrimPrefix(v, "AS"), "as")
		n, err := strconv.ParseUint(digits, 10, 32)
		if err != nil || n == 0 || digits == "" || digits[0] == '+' {
			return "", fmt.Errorf("'%s' is not an autonomous system number like 4134 or AS4134 (1 to 4294967295)", v)
		}
		return strconv.FormatUint(n, 10), nil
	case MatchCIDR:
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return "", fmt.Errorf("'%s' is not a CIDR prefix like 192.0.2.0/24", v)
		}
		if p.Addr().Is4In6() {
			return "", fmt.Errorf("prefix '%s' is IPv4-mapped; write the IPv4 prefix", v)
		}
		if p.Masked() != p {
			return "", fmt.Errorf("prefix '%s' has bits set past its length; write %s", v, p.Masked())
		}
		return p.String(), nil
	}
	return "", fmt.Errorf("unknown rule match '%s'", match)
}
