//! Deployment artifacts checked offline: Dockerfile, Kubernetes manifests, Grafana dashboard and alert
//! rules against a real scrape.
