//! generals-tests: end-to-end tests with real `generals node` processes on
//! loopback. The tests live in `tests/`; the cluster launcher they drive is
//! `generals_node::cluster`, the same code `generals demo` runs.
