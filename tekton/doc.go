// Package tekton builds the kaniko-build Tekton Task, StepAction and their
// samples as typed Tekton objects, and renders them into the Tekton catalog
// layout under catalog/.
//
// Nothing here is linked into the executor: the executor is a plain
// command line, and this package only writes the YAML that runs it.
package tekton
