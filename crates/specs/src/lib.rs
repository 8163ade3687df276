//! Spec formats: placeholder until filled in.
