# make e2e-cluster: the Tekton and Argo catalog on a real single-node
# Kubernetes, built offline and torn down again (e2e/cluster/README.md).
.PHONY: e2e-cluster e2e-cluster-build e2e-cluster-down

# The executor images come from `make release` into the cluster's registry,
# which cluster.sh runs once the registry is up.
e2e-cluster:
	bash e2e/cluster/cluster.sh all

e2e-cluster-build:
	bash e2e/cluster/cluster.sh build

e2e-cluster-down:
	bash e2e/cluster/cluster.sh down
