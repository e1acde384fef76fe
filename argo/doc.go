// Package argo builds the kaniko-build WorkflowTemplate and
// ClusterWorkflowTemplate and the example Workflows that use them, as typed
// Argo Workflows objects, and renders them into catalog/argo (the Artifact
// Hub layout for Argo templates) and examples/argo.
package argo
