// e2e-http: a static HTTP server and client for the local cluster's smoke tests.
// The image (FROM scratch, this one binary) is built by hack/cluster/images.sh.
//
//	e2e-http serve [-addr :8080]   answers "<hostname> <remote addr>\n" on every path
//	e2e-http get URL [-sa]         prints the status and body; -sa sends the pod's
//	                               service-account token and trusts its CA (for kubernetes.default)
//	e2e-http write PATH TEXT       writes TEXT to PATH, reads it back and prints it
//	e2e-http sleep                 waits for SIGTERM
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount/"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: e2e-http serve|get|write|sleep")
		os.Exit(2)
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := flags.String("addr", ":8080", "listen address")
	sa := flags.Bool("sa", false, "use the pod's service-account token and CA")
	timeout := flags.Duration("timeout", 10*time.Second, "request timeout")
	flags.Parse(os.Args[2:])
	switch os.Args[1] {
	case "serve":
		host, _ := os.Hostname()
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s\n", host, r.RemoteAddr)
		})
		fmt.Println("listening on", *addr)
		if err := http.ListenAndServe(*addr, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "get":
		os.Exit(get(flags.Arg(0), *sa, *timeout))
	case "write":
		path, text := flags.Arg(0), flags.Arg(1)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		back, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("wrote %s: %s\n", path, back)
	case "sleep":
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}

func get(url string, sa bool, timeout time.Duration) int {
	client := &http.Client{Timeout: timeout}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if sa {
		pem, err := os.ReadFile(saDir + "ca.crt")
		token, err2 := os.ReadFile(saDir + "token")
		if err != nil || err2 != nil {
			fmt.Fprintln(os.Stderr, "no service-account files:", err, err2)
			return 2
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		req.Header.Set("Authorization", "Bearer "+string(token))
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Printf("%d %s", resp.StatusCode, body)
	if resp.StatusCode >= 400 {
		return 1
	}
	return 0
}
