//! Criterion benchmarks of the identity crate.
//! In-process costs on the request path: RBAC resolution and token hashing (per authenticated
//! request), argon2 verification (per token issue).
//!
//! Run: `cargo bench -p netorch-auth --bench auth`

use std::hint::black_box;

use criterion::{Criterion, criterion_main};
use netorch_auth::{AdminQuery, password, rbac, roles::default_roles, token};

fn bench(c: &mut Criterion) {
    let roles = default_roles();
    let project_user = &roles
        .iter()
        .find(|(n, _)| *n == "project_user")
        .expect("role")
        .1;
    let none = AdminQuery::default();
    c.bench_function("rbac authorize users:id:get (project_user, 40 keys)", |b| {
        b.iter(|| rbac::authorize([project_user], black_box("users:id:get"), "get", &none))
    });
    c.bench_function("rbac role_grants vim_accounts:id:get", |b| {
        b.iter(|| rbac::role_grants(project_user, black_box("vim_accounts:id:get")))
    });
    let secret = token::generate_secret();
    c.bench_function("token sha-256 of a bearer secret", |b| {
        b.iter(|| token::hash_secret(black_box(&secret)))
    });
    let phc = password::hash("Bench!mark1").expect("hash");
    let mut g = c.benchmark_group("argon2");
    g.sample_size(10);
    g.bench_function("verify (default parameters)", |b| {
        b.iter(|| password::verify(black_box("Bench!mark1"), &phc))
    });
    g.finish();
}

mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
