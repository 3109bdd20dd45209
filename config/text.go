package config

import (
	"fmt"
	"strings"
	"time"
)

// The enums and small values of the model read and write themselves as the
// keywords and text the Corefile uses, which is also their JSON form.

var typeNames = []string{"", "A", "AAAA", "CNAME"}

// ParseType reads a record type: A, AAAA or CNAME.
func ParseType(s string) (Type, bool) { return parseName[Type](typeNames, s) }

func (t Type) MarshalText() ([]byte, error)     { return marshalName(typeNames, t, "type") }
func (t *Type) UnmarshalText(b []byte) error    { return unmarshalName(typeNames, t, "type", b) }
func (m Mode) MarshalText() ([]byte, error)     { return marshalName(modeNames, m, "mode") }
func (m *Mode) UnmarshalText(b []byte) error    { return unmarshalName(modeNames, m, "mode", b) }
func (m Method) MarshalText() ([]byte, error)   { return marshalName(methodNames, m, "method") }
func (m *Method) UnmarshalText(b []byte) error  { return unmarshalName(methodNames, m, "method", b) }
func (s Switch) MarshalText() ([]byte, error)   { return marshalName(switchNames, s, "switch") }
func (s *Switch) UnmarshalText(b []byte) error  { return unmarshalName(switchNames, s, "switch", b) }
func (a AllDown) MarshalText() ([]byte, error)  { return marshalName(allDownNames, a, "all-down") }
func (a *AllDown) UnmarshalText(b []byte) error { return unmarshalName(allDownNames, a, "all-down", b) }
func (f Failback) MarshalText() ([]byte, error) { return marshalName(failbackNames, f, "failback") }
func (f *Failback) UnmarshalText(b []byte) error {
	return unmarshalName(failbackNames, f, "failback", b)
}
func (f Failover) MarshalText() ([]byte, error) { return marshalName(failoverNames, f, "failover") }
func (f *Failover) UnmarshalText(b []byte) error {
	return unmarshalName(failoverNames, f, "failover", b)
}
func (p Policy) MarshalText() ([]byte, error)   { return marshalName(policyNames, p, "policy") }
func (p *Policy) UnmarshalText(b []byte) error  { return unmarshalName(policyNames, p, "policy", b) }
func (p Protocol) MarshalText() ([]byte, error) { return marshalName(protocolNames, p, "protocol") }
func (p *Protocol) UnmarshalText(b []byte) error {
	return unmarshalName(protocolNames, p, "protocol", b)
}
func (k MatchKind) MarshalText() ([]byte, error) { return marshalName(matchNames, k, "rule match") }
func (k *MatchKind) UnmarshalText(b []byte) error {
	return unmarshalName(matchNames, k, "rule match", b)
}

func marshalName[T ~uint8](names []string, v T, what string) ([]byte, error) {
	if int(v) >= len(names) || names[v] == "" {
		return nil, fmt.Errorf("%s %d has no name", what, v)
	}
	return []byte(names[v]), nil
}

func unmarshalName[T ~uint8](names []string, dst *T, what string, b []byte) error {
	v, ok := parseName[T](names, string(b))
	if !ok {
		var choices []string
		for _, n := range names {
			if n != "" {
				choices = append(choices, n)
			}
		}
		return fmt.Errorf("unknown %s '%s' (one of %s)", what, b, strings.Join(choices, ", "))
	}
	*dst = v
	return nil
}

// MarshalText writes "2" or "50%".
func (t Threshold) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads "2" or "50%".
func (t *Threshold) UnmarshalText(b []byte) error {
	v, err := ParseThreshold(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// MarshalText writes "200" or "200-299".
func (r StatusRange) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads "200" or "200-299".
func (r *StatusRange) UnmarshalText(b []byte) error {
	v, err := ParseStatusRange(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Duration is a time.Duration written as "1s" or "1m30s".
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("'%s' is not a duration like 5s, 500ms or 1m30s", b)
	}
	*d = Duration(v)
	return nil
}

// Percent is a share written as "20%".
type Percent int

func (p Percent) MarshalText() ([]byte, error) { return []byte(fmt.Sprintf("%d%%", p)), nil }

func (p *Percent) UnmarshalText(b []byte) error {
	n, err := ParsePercent(string(b))
	if err != nil {
		return fmt.Errorf("'%s' is not a share like 20%%", b)
	}
	*p = Percent(n)
	return nil
}

// OnOff is a switch written as "on" or "off".
type OnOff bool

func (o OnOff) MarshalText() ([]byte, error) {
	if o {
		return []byte("on"), nil
	}
	return []byte("off"), nil
}

func (o *OnOff) UnmarshalText(b []byte) error {
	switch string(b) {
	case "on":
		*o = true
	case "off":
		*o = false
	default:
		return fmt.Errorf("'%s' is neither on nor off", b)
	}
	return nil
}
