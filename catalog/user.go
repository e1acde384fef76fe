package catalog

import (
	corev1 "k8s.io/api/core/v1"
)

// User is who the executor's containers run as.
type User int

const (
	// Root runs the executor as root, which it needs to unpack base images
	// with their owners and to run RUN, and nothing more: not privileged,
	// no added capabilities, which PodSecurity "baseline" admits.
	Root User = iota
	// NonRoot runs it as NonRootUID with no capabilities, no privilege
	// escalation and the runtime's seccomp profile, which "restricted"
	// admits. It builds Dockerfiles without RUN and refuses a RUN at once.
	NonRoot
)

// NonRootUID is the user and group NonRoot containers run as: the
// distroless images' "nonroot". Every container of a non-root build runs
// as it, so the build step can read and delete what the copy step wrote.
const NonRootUID = 65532

// TempDir is where a NonRoot container mounts an emptyDir for the
// executor's scratch files, and its TMPDIR: without root the executor
// builds in a directory there, and the image (FROM scratch) has no /tmp.
const TempDir = "/tmp"

// SecurityContext is the container securityContext of u.
func (u User) SecurityContext() *corev1.SecurityContext {
	no := false
	if u == Root {
		root := int64(0)
		return &corev1.SecurityContext{RunAsUser: &root, Privileged: &no}
	}
	yes := true
	id := int64(NonRootUID)
	return &corev1.SecurityContext{
		RunAsNonRoot:             &yes,
		RunAsUser:                &id,
		RunAsGroup:               &id,
		AllowPrivilegeEscalation: &no,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// TempEnv is what a NonRoot build container adds to its environment: its
// TMPDIR, on the volume mounted at TempDir. A Root one adds nothing.
func (u User) TempEnv() []corev1.EnvVar {
	if u == Root {
		return nil
	}
	return []corev1.EnvVar{{Name: "TMPDIR", Value: TempDir}}
}

// Suffix is what the names of u's Tasks, StepActions and templates end in:
// "" for Root, "-nonroot" for NonRoot.
func (u User) Suffix() string {
	if u == Root {
		return ""
	}
	return "-nonroot"
}
