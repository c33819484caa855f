// mlops-cri: the few CRI calls hack/cluster-down.sh needs (crictl is not on the
// Go module proxy this project can reach). It talks to containerd's CRI plugin
// over the same gRPC API the kubelet uses.
//
//	mlops-cri -endpoint unix:///path/containerd.sock ps        # list pod sandboxes
//	mlops-cri -endpoint unix:///path/containerd.sock stop-all  # stop (CNI DEL) and remove every sandbox
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func main() {
	endpoint := flag.String("endpoint", "", "CRI endpoint, unix:///path/to.sock")
	timeout := flag.Duration("timeout", 2*time.Minute, "overall timeout")
	flag.Parse()
	if *endpoint == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: mlops-cri -endpoint unix:///…sock ps|stop-all|version")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+strings.TrimPrefix(*endpoint, "unix://"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	client := runtime.NewRuntimeServiceClient(conn)
	switch flag.Arg(0) {
	case "version":
		v, err := client.Version(ctx, &runtime.VersionRequest{})
		if err != nil {
			fail(err)
		}
		fmt.Printf("%s %s (CRI %s)\n", v.RuntimeName, v.RuntimeVersion, v.RuntimeApiVersion)
	case "ps":
		pods, err := client.ListPodSandbox(ctx, &runtime.ListPodSandboxRequest{})
		if err != nil {
			fail(err)
		}
		for _, p := range pods.Items {
			fmt.Printf("%s\t%s\t%s/%s\n", p.Id[:13], p.State, p.Metadata.Namespace, p.Metadata.Name)
		}
	case "stop-all":
		containers, err := client.ListContainers(ctx, &runtime.ListContainersRequest{})
		if err != nil {
			fail(err)
		}
		for _, c := range containers.Containers {
			if _, err := client.StopContainer(ctx, &runtime.StopContainerRequest{ContainerId: c.Id, Timeout: 5}); err != nil {
				fmt.Fprintf(os.Stderr, "stop container %s: %v\n", c.Id[:13], err)
			}
		}
		pods, err := client.ListPodSandbox(ctx, &runtime.ListPodSandboxRequest{})
		if err != nil {
			fail(err)
		}
		failed := 0
		for _, p := range pods.Items {
			name := p.Metadata.Namespace + "/" + p.Metadata.Name
			if _, err := client.StopPodSandbox(ctx, &runtime.StopPodSandboxRequest{PodSandboxId: p.Id}); err != nil {
				fmt.Fprintf(os.Stderr, "stop pod %s: %v\n", name, err)
				failed++
				continue
			}
			if _, err := client.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
				fmt.Fprintf(os.Stderr, "remove pod %s: %v\n", name, err)
				failed++
				continue
			}
			fmt.Printf("removed pod %s\n", name)
		}
		if failed > 0 {
			os.Exit(1)
		}
	default:
		fail(fmt.Errorf("unknown command %q", flag.Arg(0)))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mlops-cri:", err)
	os.Exit(1)
}
