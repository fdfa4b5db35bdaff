//! TMF632 Party Management v4: `organization` and `individual`. Administrators only (as
//! OpenSlice); characteristics merged by name on PATCH; peering secrets sealed and masked.

use crate::entities::{Flavor, Kind, entity_endpoints};

/// Outbox topic of TMF632 events (`OrganizationCreateEvent`...).
pub const EVENT_TOPIC: &str = "tmf632";

pub(crate) const ORGANIZATION: Kind = Kind {
    collection: "tmf_organizations",
    type_name: "Organization",
    event_key: "organization",
    topic: EVENT_TOPIC,
    change_event: "AttributeValueChange",
    path: "/tmf-api/party/v4/organization",
    flavor: Flavor::Party,
    required: &[&["name", "tradingName"]],
    strings: &[
        "name",
        "tradingName",
        "nameType",
        "organizationType",
        "status",
        "@baseType",
        "@schemaLocation",
        "@type",
    ],
    booleans: &["isHeadOffice", "isLegalEntity"],
    lists: &[
        "contactMedium",
        "creditRating",
        "externalReference",
        "organizationChildRelationship",
        "organizationIdentification",
        "otherName",
        "partyCharacteristic",
        "relatedParty",
        "taxExemptionCertificate",
    ],
    objects: &["existsDuring", "organizationParentRelationship"],
    statuses: &["initialized", "validated", "closed"],
    aliases: &[],
    refs: &[],
};

pub(crate) const INDIVIDUAL: Kind = Kind {
    collection: "tmf_individuals",
    type_name: "Individual",
    event_key: "individual",
    topic: EVENT_TOPIC,
    change_event: "AttributeValueChange",
    path: "/tmf-api/party/v4/individual",
    flavor: Flavor::Party,
    required: &[&["givenName"], &["familyName"]],
    strings: &[
        "givenName",
        "familyName",
        "middleName",
        "fullName",
        "formattedName",
        "legalName",
        "preferredGivenName",
        "familyNamePrefix",
        "title",
        "gender",
        "nationality",
        "placeOfBirth",
        "countryOfBirth",
        "maritalStatus",
        "location",
        "status",
        "birthDate",
        "deathDate",
        "aristocraticTitle",
        "generation",
        "@baseType",
        "@schemaLocation",
        "@type",
    ],
    booleans: &[],
    lists: &[
        "contactMedium",
        "creditRating",
        "disability",
        "externalReference",
        "individualIdentification",
        "languageAbility",
        "otherName",
        "partyCharacteristic",
        "relatedParty",
        "skill",
        "taxExemptionCertificate",
    ],
    objects: &[],
    statuses: &["initialized", "validated", "deceased"],
    aliases: &[],
    refs: &[],
};

entity_endpoints!(
    organization,
    super::ORGANIZATION,
    "organization",
    tag = "tmf632",
    collection = "/tmf-api/party/v4/organization",
    item = "/tmf-api/party/v4/organization/{id}"
);
entity_endpoints!(
    individual,
    super::INDIVIDUAL,
    "individual",
    tag = "tmf632",
    collection = "/tmf-api/party/v4/individual",
    item = "/tmf-api/party/v4/individual/{id}"
);
