//! The runbook's rolling update, for real on one machine: three nodes behind HAProxy.
