module mlops.dev/hack/cluster/e2e-http

go 1.24.0
