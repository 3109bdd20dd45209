package test

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// helmValues is the part of CoreDNS's chart values that
// deploy/helm/values.yaml sets, decoded strictly: a key the chart does not
// have, or one this test does not know, fails.
type helmValues struct {
	Image struct {
		Repository string `json:"repository"`
		Tag        string `json:"tag"`
		PullPolicy string `json:"pullPolicy"`
	} `json:"image"`
	ReplicaCount              int                               `json:"replicaCount"`
	IsClusterService          bool                              `json:"isClusterService"`
	ServiceType               string                            `json:"serviceType"`
	Resources                 corev1.ResourceRequirements       `json:"resources"`
	SecurityContext           corev1.SecurityContext            `json:"securityContext"`
	PodSecurityContext        corev1.PodSecurityContext         `json:"podSecurityContext"`
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints"`
	Servers                   []struct {
		Zones []struct {
			Zone   string `json:"zone"`
			Scheme string `json:"scheme"`
			UseTCP bool   `json:"use_tcp"`
		} `json:"zones"`
		Port    int `json:"port"`
		Plugins []struct {
			Name        string `json:"name"`
			Parameters  string `json:"parameters"`
			ConfigBlock string `json:"configBlock"`
		} `json:"plugins"`
	} `json:"servers"`
}

// chartCorefile renders the servers as the chart's configmap.yaml does.
func chartCorefile(v *helmValues) string {
	var b strings.Builder
	for _, s := range v.Servers {
		var zones []string
		for _, z := range s.Zones {
			zone := z.Zone
			if zone == "" {
				zone = "."
			}
			zones = append(zones, z.Scheme+zone)
		}
		if len(zones) == 0 {
			zones = []string{"."}
		}
		b.WriteString(strings.Join(zones, " "))
		if s.Port != 0 {
			fmt.Fprintf(&b, ":%d ", s.Port)
		}
		b.WriteString("{\n")
		for _, p := range s.Plugins {
			b.WriteString("    " + p.Name)
			if p.Parameters != "" {
				b.WriteString(" " + p.Parameters)
			}
			if p.ConfigBlock != "" {
				b.WriteString(" {\n")
				for _, l := range strings.Split(p.ConfigBlock, "\n") {
					b.WriteString("        " + l + "\n")
				}
				b.WriteString("    }")
			}
			b.WriteString("\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// TestHelmValues decodes the values for CoreDNS's chart, checks them against
// the image and the chart's fixed probes, renders the Corefile as the chart
// does and starts it in a real CoreDNS.
func TestHelmValues(t *testing.T) {
	b, err := os.ReadFile("../deploy/helm/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var v helmValues
	decodeStrict(t, "deploy/helm/values.yaml", b, &v)
	uid, gid := imageUser(t)
	if v.Image.Repository != "localhost/gtm" || v.IsClusterService {
		t.Errorf("image %s, isClusterService %v", v.Image.Repository, v.IsClusterService)
	}
	psc, sc := v.PodSecurityContext, v.SecurityContext
	if psc.RunAsUser == nil || *psc.RunAsUser != uid || psc.RunAsGroup == nil || *psc.RunAsGroup != gid || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("podSecurityContext does not run as the image's non-root user %d:%d", uid, gid)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Add, []corev1.Capability{"NET_BIND_SERVICE"}) || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("securityContext %+v", sc)
	}
	corefile := chartCorefile(&v)
	plugins := corefilePlugins(t, "values.yaml servers", corefile)
	// The chart probes GET /health on 8080 and GET /ready on 8181: the
	// plugins must be there on their default addresses.
	for _, p := range []string{"health", "ready", "gtm"} {
		if args, ok := plugins[p]; !ok || len(args) != 0 {
			t.Errorf("servers: plugin %s %v, want it without an address", p, args)
		}
	}

	hp, rp, mp := freePort(t), freePort(t), freePort(t)
	corefile = strings.NewReplacer(
		"    health {", fmt.Sprintf("    health 127.0.0.1:%d {", hp),
		"    ready\n", fmt.Sprintf("    ready 127.0.0.1:%d\n", rp),
		"prometheus 0.0.0.0:9153", fmt.Sprintf("prometheus 127.0.0.1:%d", mp),
		":53 {", ":0 {",
	).Replace(corefile)
	s := start(t, corefile)
	get := func(port int, path string) int {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	testkit.Eventually(t, "GET /ready answers 200", 10*time.Second, func() bool { return get(rp, "/ready") == 200 })
	if c := get(hp, "/health"); c != 200 {
		t.Errorf("GET /health: %d", c)
	}
	m := new(dns.Msg)
	m.SetQuestion("www.gtm.example.net.", dns.TypeA)
	for _, addr := range []string{s.udp, s.tcp} {
		c := new(dns.Client)
		if addr == s.tcp {
			c.Net = "tcp"
		}
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := testkit.Values(r); len(got) != 2 {
			t.Errorf("www.gtm.example.net A over %s: %v", c.Net, got)
		}
	}
}
