//! The family's OpenAPI document, built from the kind table so that every alias is documented
//! without a copy of each handler.

use utoipa::{
    OpenApi,
    openapi::{
        HttpMethod, OpenApi as Doc, PathItem,
        path::{OperationBuilder, ParameterBuilder, ParameterIn},
        request_body::RequestBodyBuilder,
        response::ResponseBuilder,
    },
};

use crate::{accounts::KINDS, packages, pdus};

#[derive(OpenApi)]
#[openapi(
    info(title = "netorch OSM NBI", description = "OSM SOL005 NBI: infrastructure accounts and PDUs"),
    components(schemas(crate::accounts::VimNew, crate::accounts::WimNew, crate::accounts::SdnNew, pdus::PduNew)),
    tags((name = "osm", description = "OSM NBI"))
)]
struct Base;

fn op(
    summary: &str,
    responses: &[(&str, &str)],
    body: Option<&str>,
    id: bool,
) -> utoipa::openapi::path::Operation {
    let mut b = OperationBuilder::new()
        .summary(Some(summary))
        .tag("osm")
        .security(utoipa::openapi::security::SecurityRequirement::new(
            "bearerAuth",
            Vec::<String>::new(),
        ));
    if id {
        b = b.parameter(
            ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(utoipa::openapi::Required::True)
                .description(Some("Record id")),
        );
    }
    if let Some(schema) = body {
        b = b.request_body(Some(
            RequestBodyBuilder::new()
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name(schema)))
                        .build(),
                )
                .build(),
        ));
    }
    for (code, desc) in responses {
        b = b.response(*code, ResponseBuilder::new().description(*desc));
    }
    b.build()
}

pub(crate) fn document() -> Doc {
    let mut doc = Base::openapi();
    let schema = |c: &str| match c {
        "vim_accounts" => "VimNew",
        "wim_accounts" => "WimNew",
        _ => "SdnNew",
    };
    for kind in KINDS {
        for (path, _) in kind.paths {
            let what = kind.topic.replace('_', " ");
            let mut coll = PathItem::new(
                HttpMethod::Get,
                op(&format!("List {what}s"), &[("200", "List")], None, false),
            );
            coll.post = Some(op(
                &format!("Register a {what} (validated asynchronously)"),
                &[
                    ("202", "Accepted: {_id, id, op_id}"),
                    ("409", "Name in use"),
                    ("422", "Invalid"),
                ],
                Some(schema(kind.collection)),
                false,
            ));
            doc.paths.paths.insert(path.to_string(), coll);
            let mut item = PathItem::new(
                HttpMethod::Get,
                op(
                    &format!("Show a {what}"),
                    &[("200", "Account"), ("404", "Not found")],
                    None,
                    true,
                ),
            );
            item.patch = Some(op(
                &format!("Edit a {what}"),
                &[("202", "Accepted: {op_id}")],
                None,
                true,
            ));
            item.put = Some(op(
                &format!("Edit a {what} (same as PATCH)"),
                &[("202", "Accepted: {op_id}")],
                None,
                true,
            ));
            item.delete = Some(op(
                &format!("Delete a {what} (202 and asynchronous; 204 at once with FORCE)"),
                &[("202", "Deletion in progress"), ("204", "Deleted")],
                None,
                true,
            ));
            doc.paths.paths.insert(format!("{path}/{{id}}"), item);
        }
    }
    for kind in packages::KINDS {
        for (path, method, summary) in kind.operations() {
            let has_id = path.contains("{id}");
            let responses: &[(&str, &str)] = match method {
                "post" => &[
                    ("201", "Created"),
                    ("400", "Invalid package"),
                    ("409", "Conflict"),
                    ("422", "Invalid descriptor"),
                ],
                "put" | "patch" | "delete" => &[("204", "Done"), ("409", "Conflict")],
                _ => &[("200", "OK"), ("404", "Not found")],
            };
            let operation = op(&summary, responses, None, has_id);
            let item = doc
                .paths
                .paths
                .entry(path.clone())
                .or_insert_with(|| PathItem::new(HttpMethod::Get, operation.clone()));
            match method {
                "get" => item.get = Some(operation),
                "post" => item.post = Some(operation),
                "put" => item.put = Some(operation),
                "patch" => item.patch = Some(operation),
                _ => item.delete = Some(operation),
            }
            if path.ends_with("{path}")
                && let Some(get) = item.get.as_mut()
            {
                get.parameters.get_or_insert_with(Vec::new).push(
                    ParameterBuilder::new()
                        .name("path")
                        .parameter_in(ParameterIn::Path)
                        .required(utoipa::openapi::Required::True)
                        .description(Some("File or folder inside the package"))
                        .build()
                        .into(),
                );
            }
        }
    }
    let mut coll = PathItem::new(
        HttpMethod::Get,
        op("List PDUs", &[("200", "List")], None, false),
    );
    coll.post = Some(op(
        "Create a PDU",
        &[
            ("201", "Created"),
            ("409", "Name in use"),
            ("422", "Invalid"),
        ],
        Some("PduNew"),
        false,
    ));
    doc.paths.paths.insert(pdus::PATH.to_string(), coll);
    let mut item = PathItem::new(
        HttpMethod::Get,
        op(
            "Show a PDU",
            &[("200", "PDU"), ("404", "Not found")],
            None,
            true,
        ),
    );
    item.patch = Some(op("Edit a PDU", &[("204", "Edited")], None, true));
    item.put = Some(op(
        "Replace a PDU",
        &[("204", "Replaced")],
        Some("PduNew"),
        true,
    ));
    item.delete = Some(op(
        "Delete a PDU",
        &[("204", "Deleted"), ("409", "In use")],
        None,
        true,
    ));
    doc.paths
        .paths
        .insert(format!("{}/{{id}}", pdus::PATH), item);
    doc
}
