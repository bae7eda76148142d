//! Process-level cluster harness for raftcp's integration tests. Filled by the
//! working-cluster issue.
