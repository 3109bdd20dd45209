package test

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy/caddyfile"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

const k8sDir = "../deploy/kubernetes"

// kustomization is the part of kustomize's Kustomization these manifests
// use; decoded strictly, so a field kustomize would see and this test not
// fails here.
type kustomization struct {
	APIVersion         string            `json:"apiVersion"`
	Kind               string            `json:"kind"`
	Namespace          string            `json:"namespace,omitempty"`
	Labels             []kustomizeLabels `json:"labels,omitempty"`
	Resources          []string          `json:"resources"`
	ConfigMapGenerator []struct {
		Name    string   `json:"name"`
		Files   []string `json:"files"`
		Options struct {
			DisableNameSuffixHash bool `json:"disableNameSuffixHash"`
		} `json:"options"`
	} `json:"configMapGenerator,omitempty"`
	Images []struct {
		Name   string `json:"name"`
		NewTag string `json:"newTag"`
	} `json:"images,omitempty"`
}

type kustomizeLabels struct {
	Pairs map[string]string `json:"pairs"`
}

// k8sObjects is what a kustomization puts together, decoded strictly into
// the k8s.io/api types.
type k8sObjects struct {
	namespace    string
	labels       map[string]string
	configMaps   map[string]*corev1.ConfigMap
	services     []*corev1.Service
	statefulSets []*appsv1.StatefulSet
	deployments  []*appsv1.Deployment
	pdbs         []*policyv1.PodDisruptionBudget
	namespaces   []*corev1.Namespace
	files        []string // every file read
}

// decodeStrict decodes one YAML document into v: unknown and duplicate
// fields are errors.
func decodeStrict(t *testing.T, where string, doc []byte, v any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
}

// documents splits a YAML stream.
func documents(b []byte) [][]byte {
	var out [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(d, "")) != "" {
			out = append(out, []byte(d))
		}
	}
	return out
}

// addObject decodes one manifest by its kind.
func (o *k8sObjects) addObject(t *testing.T, where string, doc []byte) {
	t.Helper()
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 ConfigMap":
		var cm corev1.ConfigMap
		decodeStrict(t, where, doc, &cm)
		o.configMaps[cm.Name] = &cm
	case "v1 Service":
		var s corev1.Service
		decodeStrict(t, where, doc, &s)
		o.services = append(o.services, &s)
	case "v1 Namespace":
		var n corev1.Namespace
		decodeStrict(t, where, doc, &n)
		o.namespaces = append(o.namespaces, &n)
	case "apps/v1 StatefulSet":
		var s appsv1.StatefulSet
		decodeStrict(t, where, doc, &s)
		o.statefulSets = append(o.statefulSets, &s)
	case "apps/v1 Deployment":
		var d appsv1.Deployment
		decodeStrict(t, where, doc, &d)
		o.deployments = append(o.deployments, &d)
	case "policy/v1 PodDisruptionBudget":
		var p policyv1.PodDisruptionBudget
		decodeStrict(t, where, doc, &p)
		o.pdbs = append(o.pdbs, &p)
	default:
		t.Fatalf("%s: unexpected object %s %s", where, tm.APIVersion, tm.Kind)
	}
}

// loadKustomization reads dir's kustomization and everything it names, as
// kustomize would put them together (namespace and labels applied, the
// ConfigMaps generated from their files), without kustomize.
func loadKustomization(t *testing.T, dir string, o *k8sObjects) {
	t.Helper()
	kf := filepath.Join(dir, "kustomization.yaml")
	b, err := os.ReadFile(kf)
	if err != nil {
		t.Fatal(err)
	}
	o.files = append(o.files, kf)
	var k kustomization
	decodeStrict(t, kf, b, &k)
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Fatalf("%s: %s %s is not a Kustomization", kf, k.APIVersion, k.Kind)
	}
	if k.Namespace != "" {
		o.namespace = k.Namespace
	}
	for _, l := range k.Labels {
		for n, v := range l.Pairs {
			o.labels[n] = v
		}
	}
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		if st, err := os.Stat(p); err != nil {
			t.Fatalf("%s: resource %s: %v", kf, r, err)
		} else if st.IsDir() {
			loadKustomization(t, p, o)
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		o.files = append(o.files, p)
		for i, doc := range documents(b) {
			o.addObject(t, fmt.Sprintf("%s (document %d)", p, i+1), doc)
		}
	}
	for _, g := range k.ConfigMapGenerator {
		if !g.Options.DisableNameSuffixHash {
			t.Errorf("%s: ConfigMap %s gets a hash suffix: the reload plugin then never sees an edit", kf, g.Name)
		}
		cm := &corev1.ConfigMap{Data: map[string]string{}}
		cm.Name = g.Name
		for _, f := range g.Files {
			p := filepath.Join(dir, f)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("%s: ConfigMap %s: %v", kf, g.Name, err)
			}
			o.files = append(o.files, p)
			cm.Data[path.Base(f)] = string(b)
		}
		o.configMaps[g.Name] = cm
	}
}

func newObjects() *k8sObjects {
	return &k8sObjects{labels: map[string]string{}, configMaps: map[string]*corev1.ConfigMap{}}
}

// workload is a pod template and what owns it.
type workload struct {
	name string
	spec corev1.PodTemplateSpec
}

func (o *k8sObjects) workloads() []workload {
	var w []workload
	for _, s := range o.statefulSets {
		w = append(w, workload{"StatefulSet " + s.Name, s.Spec.Template})
	}
	for _, d := range o.deployments {
		w = append(w, workload{"Deployment " + d.Name, d.Spec.Template})
	}
	return w
}

// podLabels are a template's labels: kustomize's labels (without
// includeTemplates) label the objects, not their pods.
func (o *k8sObjects) podLabels(p corev1.PodTemplateSpec) map[string]string {
	return p.Labels
}

func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for n, v := range sel {
		if labels[n] != v {
			return false
		}
	}
	return true
}

// corefilePlugins maps each directive of the Corefile's server blocks to its
// arguments (the first occurrence's), checking that every block listens on
// port.
func corefilePlugins(t *testing.T, name, corefile string) map[string][]string {
	t.Helper()
	blocks, err := caddyfile.Parse(name, strings.NewReader(corefile), nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	out := map[string][]string{}
	for _, sb := range blocks {
		for _, key := range sb.Keys {
			if !strings.HasSuffix(key, ":53") {
				t.Errorf("%s: server block %s does not listen on port 53", name, key)
			}
		}
		for dir, toks := range sb.Tokens {
			var args []string
			for _, tok := range toks[1:] {
				if tok.Line != toks[0].Line || tok.Text == "{" {
					break
				}
				args = append(args, tok.Text)
			}
			out[dir] = args
		}
	}
	return out
}

// port is the port of a Corefile listener address ":8080", "127.0.0.1:8080".
func port(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("listener address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("listener address %q: %v", addr, err)
	}
	return int32(n)
}

// containerPort resolves a probe's or Service's port (a number or a name)
// against the container's ports.
func containerPort(c corev1.Container, p intstr.IntOrString, proto corev1.Protocol) (int32, bool) {
	for _, cp := range c.Ports {
		pr := cp.Protocol
		if pr == "" {
			pr = corev1.ProtocolTCP
		}
		if pr != proto {
			continue
		}
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// imageUser is the USER of the Dockerfile, "65532:65532".
func imageUser(t *testing.T) (uid, gid int64) {
	t.Helper()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^USER (\d+):(\d+)$`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatal("the Dockerfile has no USER UID:GID line")
	}
	u, _ := strconv.ParseInt(m[1], 10, 64)
	g, _ := strconv.ParseInt(m[2], 10, 64)
	return u, g
}

// checkObjects checks what the objects say against each other, the image
// and the Corefiles they mount.
func checkObjects(t *testing.T, o *k8sObjects) {
	t.Helper()
	uid, gid := imageUser(t)
	if len(o.workloads()) == 0 {
		t.Fatal("no StatefulSet or Deployment")
	}
	for _, w := range o.workloads() {
		spec := w.spec.Spec
		if len(spec.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", w.name, len(spec.Containers))
		}
		c := spec.Containers[0]
		// The Corefile the container reads, from its ConfigMap volume.
		if !slices.Equal(c.Args, []string{"-conf", "/etc/coredns/Corefile"}) {
			t.Errorf("%s: args %v, want -conf /etc/coredns/Corefile", w.name, c.Args)
		}
		mounts := map[string]string{} // mount path → volume
		for _, m := range c.VolumeMounts {
			mounts[m.MountPath] = m.Name
		}
		var corefile string
		volumes := map[string]corev1.Volume{}
		for _, v := range spec.Volumes {
			volumes[v.Name] = v
		}
		if v, ok := volumes[mounts["/etc/coredns"]]; !ok || v.ConfigMap == nil {
			t.Fatalf("%s: no ConfigMap mounted at /etc/coredns", w.name)
		} else if cm, ok := o.configMaps[v.ConfigMap.Name]; !ok {
			t.Fatalf("%s: ConfigMap %s is not in the manifests", w.name, v.ConfigMap.Name)
		} else if corefile = cm.Data["Corefile"]; corefile == "" {
			t.Fatalf("%s: ConfigMap %s has no Corefile", w.name, v.ConfigMap.Name)
		}
		plugins := corefilePlugins(t, w.name, corefile)

		// Probes: liveness on health's /health, readiness on ready's /ready.
		probe := func(kind string, p *corev1.Probe, plugin, path string) {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("%s: no HTTP %s probe", w.name, kind)
				return
			}
			args, ok := plugins[plugin]
			if !ok || len(args) != 1 {
				t.Errorf("%s: the %s probe needs the %s plugin on an explicit address; the Corefile says %v", w.name, kind, plugin, args)
				return
			}
			want := port(t, args[0])
			got, ok := containerPort(c, p.HTTPGet.Port, corev1.ProtocolTCP)
			if !ok || got != want || p.HTTPGet.Path != path {
				t.Errorf("%s: %s probe GET %s on %v (port %d), want GET %s on %d (%s %s)", w.name, kind, p.HTTPGet.Path, p.HTTPGet.Port.String(), got, path, want, plugin, args[0])
			}
		}
		probe("liveness", c.LivenessProbe, "health", "/health")
		probe("readiness", c.ReadinessProbe, "ready", "/ready")
		for _, proto := range []corev1.Protocol{corev1.ProtocolUDP, corev1.ProtocolTCP} {
			if _, ok := containerPort(c, intstr.FromInt32(53), proto); !ok {
				t.Errorf("%s: no container port 53/%s", w.name, proto)
			}
		}
		if args, ok := plugins["prometheus"]; ok {
			if p, ok := containerPort(c, intstr.FromString("metrics"), corev1.ProtocolTCP); !ok || p != port(t, args[0]) {
				t.Errorf("%s: container port metrics is %d, prometheus listens on %v", w.name, p, args)
			}
		}
		// The API: its port, its token file and its store on volumes.
		if api := regexp.MustCompile(`(?m)^\s*api (\S+) \{`).FindStringSubmatch(corefile); api != nil {
			if p, ok := containerPort(c, intstr.FromString("api"), corev1.ProtocolTCP); !ok || p != port(t, api[1]) {
				t.Errorf("%s: container port api is %d, the API listens on %s", w.name, p, api[1])
			}
			tok := regexp.MustCompile(`(?m)^\s*token (\S+)$`).FindStringSubmatch(corefile)
			store := regexp.MustCompile(`(?m)^\s*store (\S+)$`).FindStringSubmatch(corefile)
			if tok == nil || store == nil {
				t.Fatalf("%s: the API has no token file or no explicit store", w.name)
			}
			if v := volumes[mounts[path.Dir(tok[1])]]; v.Secret == nil {
				t.Errorf("%s: the token file %s is not on a Secret volume", w.name, tok[1])
			}
			stateDir := path.Dir(store[1])
			if _, ok := mounts[stateDir]; !ok {
				t.Errorf("%s: the store %s is not on a volume (the root filesystem is read-only)", w.name, store[1])
			}
			if !strings.HasPrefix(w.name, "StatefulSet") {
				t.Errorf("%s: a node with the embedded store belongs in a StatefulSet with its own volume", w.name)
			}
		}

		// Security: non-root as the image's user, read-only, no capability
		// but NET_BIND_SERVICE, no privilege escalation.
		psc, sc := spec.SecurityContext, c.SecurityContext
		if psc == nil || sc == nil {
			t.Fatalf("%s: no securityContext", w.name)
		}
		if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != uid || psc.RunAsGroup == nil || *psc.RunAsGroup != gid {
			t.Errorf("%s: pod must run as non-root %d:%d, the image's user", w.name, uid, gid)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: root filesystem not read-only", w.name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: privilege escalation allowed", w.name)
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || !slices.Equal(sc.Capabilities.Add, []corev1.Capability{"NET_BIND_SERVICE"}) {
			t.Errorf("%s: capabilities %+v, want drop ALL, add NET_BIND_SERVICE", w.name, sc.Capabilities)
		}
		ping := false
		for _, s := range psc.Sysctls {
			ping = ping || (s.Name == "net.ipv4.ping_group_range" && s.Value == fmt.Sprintf("%d %d", gid, gid))
		}
		if !ping {
			t.Errorf("%s: no net.ipv4.ping_group_range for group %d: ping monitors would find no ICMP socket", w.name, gid)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("%s: no CPU or memory request", w.name)
		}
	}

	// Services and the PodDisruptionBudget select pods, and every port a
	// Service targets is a port of each pod it selects.
	for _, s := range o.services {
		n := 0
		for _, w := range o.workloads() {
			if !selects(s.Spec.Selector, o.podLabels(w.spec)) {
				continue
			}
			n++
			for _, p := range s.Spec.Ports {
				if _, ok := containerPort(w.spec.Spec.Containers[0], p.TargetPort, p.Protocol); !ok {
					t.Errorf("Service %s port %s targets %s/%s, which %s has not", s.Name, p.Name, p.TargetPort.String(), p.Protocol, w.name)
				}
			}
		}
		if n == 0 {
			t.Errorf("Service %s selects no pod", s.Name)
		}
	}
	if len(o.pdbs) == 0 {
		t.Error("no PodDisruptionBudget")
	}
	for _, p := range o.pdbs {
		n := 0
		for _, w := range o.workloads() {
			if p.Spec.Selector != nil && selects(p.Spec.Selector.MatchLabels, o.podLabels(w.spec)) {
				n++
			}
		}
		if n != len(o.workloads()) {
			t.Errorf("PodDisruptionBudget %s covers %d of %d workloads", p.Name, n, len(o.workloads()))
		}
	}
	// Workloads select their own pods.
	for _, s := range o.statefulSets {
		if !selects(s.Spec.Selector.MatchLabels, o.podLabels(s.Spec.Template)) {
			t.Errorf("StatefulSet %s does not select its pods", s.Name)
		}
		if s.Spec.Replicas == nil || *s.Spec.Replicas != 1 {
			t.Errorf("StatefulSet %s: the embedded store is one node's: 1 replica", s.Name)
		}
		if len(s.Spec.VolumeClaimTemplates) != 1 {
			t.Errorf("StatefulSet %s: no volume claim for the store", s.Name)
		}
	}
	for _, d := range o.deployments {
		if !selects(d.Spec.Selector.MatchLabels, o.podLabels(d.Spec.Template)) {
			t.Errorf("Deployment %s does not select its pods", d.Name)
		}
		if len(d.Spec.Template.Spec.TopologySpreadConstraints) == 0 {
			t.Errorf("Deployment %s: replicas are not spread", d.Name)
		}
	}
}

// TestKubernetesManifests decodes every manifest of deploy/kubernetes
// strictly into the k8s.io/api types, as kustomize puts them together, and
// checks the probes, ports, volumes and security against the Corefiles the
// ConfigMaps carry and the image.
func TestKubernetesManifests(t *testing.T) {
	read := map[string]bool{}
	for _, dir := range []string{k8sDir, k8sDir + "/resolvers"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := newObjects()
			loadKustomization(t, dir, o)
			for _, f := range o.files {
				read[filepath.Clean(f)] = true
			}
			if o.namespace != "gtm" || len(o.namespaces) != 1 || o.namespaces[0].Name != o.namespace {
				t.Errorf("namespace %q, Namespace objects %d", o.namespace, len(o.namespaces))
			}
			checkObjects(t, o)
		})
	}
	// Every file under deploy/kubernetes is part of an install.
	filepath.WalkDir(k8sDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !read[filepath.Clean(p)] {
			t.Errorf("%s is in no kustomization", p)
		}
		return err
	})
}

// TestReadmeKubernetes runs README's Kubernetes commands as far as they go
// without a cluster: each kubectl apply -k is built with kubectl kustomize
// (what apply would send) and decoded strictly, the namespace and the Secret
// are made with --dry-run=client and checked against what the manifests
// mount, and the Deployment the README scales is one they make.
func TestReadmeKubernetes(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl is not installed: README's kubectl commands are not run (TestKubernetesManifests reads the kustomizations itself)")
	}
	sec := deploySubsection(t, "### Kubernetes")
	var cmds []string
	for _, b := range blocks(sec, "sh") {
		cmds = append(cmds, shCommands(b)...)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gtm-tokens"), []byte("ci admin 0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) []byte {
		t.Helper()
		c := exec.Command("kubectl", args...)
		c.Dir = dir
		out, err := c.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return out
	}
	all := newObjects()
	var applied []string
	var ns string
	var secret corev1.Secret
	var scaled string
	for _, c := range cmds {
		f := strings.Fields(c)
		switch {
		case len(f) == 4 && f[1] == "apply" && f[2] == "-k":
			applied = append(applied, f[3])
			abs, err := filepath.Abs(filepath.Join("..", f[3]))
			if err != nil {
				t.Fatal(err)
			}
			out := kubectl("kustomize", abs)
			o := newObjects()
			for i, doc := range documents(out) {
				o.addObject(t, fmt.Sprintf("kubectl kustomize %s (document %d)", f[3], i+1), doc)
				all.addObject(t, "", doc)
			}
			// kustomize applied the namespace and labels itself.
			for _, s := range o.services {
				if s.Namespace != "gtm" || s.Labels["app.kubernetes.io/part-of"] != "gtm" {
					t.Errorf("Service %s: namespace %q, labels %v", s.Name, s.Namespace, s.Labels)
				}
			}
			for _, cm := range o.configMaps {
				if cm.Namespace != "gtm" || cm.Data["Corefile"] == "" {
					t.Errorf("ConfigMap %s: namespace %q, keys %d", cm.Name, cm.Namespace, len(cm.Data))
				}
			}
			checkObjects(t, o)
		case len(f) == 4 && f[1] == "create" && f[2] == "namespace":
			var n corev1.Namespace
			decodeStrict(t, c, kubectl(append(f[1:], "--dry-run=client", "-o", "yaml")...), &n)
			ns = n.Name
		case len(f) > 5 && f[3] == "create" && f[4] == "secret":
			decodeStrict(t, c, kubectl(append(f[1:], "--dry-run=client", "-o", "yaml")...), &secret)
		case len(f) > 4 && f[3] == "scale":
			scaled = strings.TrimPrefix(f[4], "deployment/")
		default:
			t.Errorf("README command %q is not checked here", c)
		}
	}
	if !slices.Equal(applied, []string{"deploy/kubernetes", "deploy/kubernetes/resolvers"}) {
		t.Errorf("README applies %v", applied)
	}
	for _, s := range all.statefulSets {
		if s.Namespace != ns {
			t.Errorf("StatefulSet %s in namespace %q, README creates %q", s.Name, s.Namespace, ns)
		}
		for _, v := range s.Spec.Template.Spec.Volumes {
			if v.Secret == nil {
				continue
			}
			if v.Secret.SecretName != secret.Name || secret.Namespace != s.Namespace {
				t.Errorf("StatefulSet %s mounts Secret %s/%s, README creates %s/%s", s.Name, s.Namespace, v.Secret.SecretName, secret.Namespace, secret.Name)
			}
			tok := regexp.MustCompile(`(?m)^\s*token (\S+)$`).FindStringSubmatch(all.configMaps["gtm"].Data["Corefile"])
			if tok == nil {
				t.Fatal("the ConfigMap gtm's Corefile has no token file")
			}
			if len(secret.Data[path.Base(tok[1])]) == 0 {
				t.Errorf("README's Secret has keys %v; the Corefile reads the token file %s", slices.Sorted(maps.Keys(secret.Data)), tok[1])
			}
		}
	}
	found := false
	for _, d := range all.deployments {
		found = found || d.Name == scaled
	}
	if !found {
		t.Errorf("README scales deployment/%s, which the manifests do not make", scaled)
	}
}

// k8sCorefileHere moves a manifest's Corefile onto this machine: its
// listeners on free loopback ports, its files in dir.
func k8sCorefileHere(t *testing.T, corefile, dir string) (string, map[string]int) {
	t.Helper()
	ports := map[string]int{}
	for _, p := range []string{"health", "ready", "prometheus"} {
		ports[p] = freePort(t)
	}
	ports["api"] = freePort(t)
	repl := []string{
		"health :8080", fmt.Sprintf("health 127.0.0.1:%d", ports["health"]),
		"ready :8181", fmt.Sprintf("ready 127.0.0.1:%d", ports["ready"]),
		"prometheus :9153", fmt.Sprintf("prometheus 127.0.0.1:%d", ports["prometheus"]),
		"api :8053", fmt.Sprintf("api 127.0.0.1:%d", ports["api"]),
		":53 {", ":0 {",
	}
	corefile = strings.NewReplacer(repl...).Replace(corefile)
	corefile = storeLine.ReplaceAllString(corefile, "store "+filepath.Join(dir, "gtm.db"))
	tf := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tf, []byte("ci admin 0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	corefile = tokenLine.ReplaceAllString(corefile, "token "+tf)
	return corefile, ports
}

// TestKubernetesCorefiles starts a real CoreDNS on each ConfigMap's Corefile
// (ports rewritten to free loopback ones) and asks it what Kubernetes would:
// the probes' paths, a DNS question, and the API.
func TestKubernetesCorefiles(t *testing.T) {
	for _, f := range []string{k8sDir + "/base/Corefile", k8sDir + "/resolvers/Corefile"} {
		t.Run(filepath.Base(filepath.Dir(f)), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			corefile, ports := k8sCorefileHere(t, string(b), t.TempDir())
			s := start(t, corefile)
			get := func(port int, path string, hdr ...string) int {
				req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
				if len(hdr) == 2 {
					req.Header.Set(hdr[0], hdr[1])
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return 0
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			testkit.Eventually(t, "GET /ready answers 200", 10*time.Second, func() bool { return get(ports["ready"], "/ready") == 200 })
			if c := get(ports["health"], "/health"); c != 200 {
				t.Errorf("GET /health: %d", c)
			}
			m := new(dns.Msg)
			m.SetQuestion("www.gtm.example.net.", dns.TypeA)
			r, err := dns.Exchange(m, s.udp)
			if err != nil {
				t.Fatal(err)
			}
			if got := testkit.Values(r); !slices.Equal(got, []string{"192.0.2.10", "192.0.2.11"}) && !slices.Equal(got, []string{"192.0.2.11", "192.0.2.10"}) {
				t.Errorf("www.gtm.example.net A: %v", got)
			}
			if bytes.Contains(b, []byte("api :8053")) {
				if c := get(ports["api"], "/api/v1/zones"); c != 401 {
					t.Errorf("GET /api/v1/zones without a token: %d, want 401", c)
				}
				if c := get(ports["api"], "/api/v1/zones", "Authorization", "Bearer 0123456789abcdef0123"); c != 200 {
					t.Errorf("GET /api/v1/zones with a token: %d, want 200", c)
				}
			}
		})
	}
}
