//! The `shoal` command line.
