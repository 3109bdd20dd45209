// Command demo-backend is the health-check backend of scripts/cluster-demo.sh:
// an HTTP server on several loopback addresses, one port, where each gtm
// node probes its own path (/n1, /n2, /n3), so that one address can look
// down to some nodes and up to others, as it would from different vantage
// points. A control listener flips it:
//
//	curl -X PUT    http://CONTROL/down/127.0.0.32/n1   # n1's probes of .32 fail (503)
//	curl -X DELETE http://CONTROL/down/127.0.0.32/n1   # and pass again
//	curl           http://CONTROL/                     # what is down for whom
//
//	demo-backend -addrs 127.0.0.31,127.0.0.32 -port 8080 -control 127.0.0.1:8081
//	demo-backend -ports 5    # prints 5 free TCP ports on 127.0.0.1 and exits
//
// Everything listens on loopback only.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	addrs := flag.String("addrs", "127.0.0.31,127.0.0.32", "loopback addresses to serve the probes on, comma-separated")
	port := flag.Int("port", 0, "the probes' port, on every address")
	control := flag.String("control", "", "loopback host:port of the control listener")
	ports := flag.Int("ports", 0, "print this many free TCP ports on 127.0.0.1 and exit")
	flag.Parse()
	if *ports > 0 {
		if err := printPorts(*ports); err != nil {
			fmt.Fprintln(os.Stderr, "demo-backend:", err)
			os.Exit(1)
		}
		return
	}
	if err := serve(strings.Split(*addrs, ","), *port, *control); err != nil {
		fmt.Fprintln(os.Stderr, "demo-backend:", err)
		os.Exit(1)
	}
}

// printPorts holds n listeners at once so that the ports differ, then
// releases them for the demo's processes to take.
func printPorts(n int) error {
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		out = append(out, fmt.Sprint(l.Addr().(*net.TCPAddr).Port))
	}
	fmt.Println(strings.Join(out, " "))
	return nil
}

func loopback(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func serve(addrs []string, port int, control string) error {
	var mu sync.Mutex
	down := map[string]bool{} // "ADDRESS nI"
	errs := make(chan error, len(addrs)+1)
	for _, a := range addrs {
		if !loopback(a) {
			return fmt.Errorf("%s is not a loopback address", a)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(a, fmt.Sprint(port)))
		if err != nil {
			return err
		}
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			d := down[a+" "+strings.TrimPrefix(r.URL.Path, "/")]
			mu.Unlock()
			if d {
				http.Error(w, "down for this node", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ok\n")
		})}
		go func() { errs <- srv.Serve(ln) }()
	}
	host, _, err := net.SplitHostPort(control)
	if err != nil || !loopback(host) {
		return fmt.Errorf("-control %q is not a loopback host:port", control)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/down/{addr}/{node}", func(w http.ResponseWriter, r *http.Request) {
		k := r.PathValue("addr") + " " + r.PathValue("node")
		mu.Lock()
		defer mu.Unlock()
		switch r.Method {
		case http.MethodPut:
			down[k] = true
		case http.MethodDelete:
			delete(down, k)
		default:
			http.Error(w, "PUT or DELETE", http.StatusMethodNotAllowed)
			return
		}
		fmt.Fprintf(w, "%s: %s\n", k, map[bool]string{true: "down", false: "up"}[down[k]])
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var ks []string
		for k := range down {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		fmt.Fprintf(w, "down: %s\n", strings.Join(ks, ", "))
	})
	ln, err := net.Listen("tcp", control)
	if err != nil {
		return err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: mux}
	go func() { errs <- srv.Serve(ln) }()
	return <-errs
}
