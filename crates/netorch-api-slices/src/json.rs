//! Wire formats: request parsing with pydantic-style error locations, dates, and the reservation
//! body in the seed's field order.

use netorch_core::{Micros, connectivity::Reservation};
use serde::Serialize;
use serde_json::Value;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use utoipa::ToSchema;

use crate::error::{Detail, SlicesError};

/// Parses an RFC 3339 date; a date without offset is taken as UTC (Python clients often send
/// naive `isoformat()` strings).
pub fn parse_date(s: &str) -> Option<Micros> {
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339))
        .ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000).ok()
}

/// Formats as the service does: UTC, `Z`, fractional seconds without trailing zeros
/// (`2024-10-02T10:00:00.63Z`), none when whole.
pub fn format_date(m: Micros) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1_000) else {
        return m.to_string();
    };
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let micros = t.microsecond();
    if micros == 0 {
        format!("{base}Z")
    } else {
        let frac = format!("{micros:06}");
        format!("{base}.{}Z", frac.trim_end_matches('0'))
    }
}

/// A reservation on the wire, fields in the order the seed shows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReservationBody {
    /// First site.
    #[schema(example = "pl-poznan1")]
    pub site1: String,
    /// Second site.
    #[schema(example = "be-gent1")]
    pub site2: String,
    /// Mbps, both directions.
    #[schema(example = 100)]
    pub bandwidth: i64,
    /// Start (inclusive), RFC 3339 UTC.
    #[schema(example = "2024-10-02T10:00:00.63Z")]
    pub start_date: String,
    /// End (exclusive), RFC 3339 UTC.
    #[schema(example = "2024-10-13T10:00:00.63Z")]
    pub end_date: String,
    /// Reservation id.
    #[schema(example = "con_slices-cs.apps.dcw1.paas.psnc.pl_5YZNsQYpMw9FLLvHmNUC4ng6TH")]
    pub id: String,
    /// Experiment.
    #[schema(example = "exp_expauth.ilabt.imec.be_01j7x2jwagefevxgwv39rkv4pq")]
    pub experiment_id: String,
    /// Creation time.
    #[schema(example = "2024-10-01T12:20:28.255Z")]
    pub created_at: String,
    /// Creating user.
    #[schema(example = "user_account.ilabt.imec.be_2meafdbw143x9T6e97hs56asd")]
    pub created_by: String,
    /// S-tag at site1.
    #[schema(example = 3505)]
    pub site1_s_tag: u16,
    /// C-tag at site1 (0 unless QinQ).
    #[schema(example = 0)]
    pub site1_c_tag: u16,
    /// S-tag at site2.
    #[schema(example = 2703)]
    pub site2_s_tag: u16,
    /// C-tag at site2 (0 unless QinQ).
    #[schema(example = 0)]
    pub site2_c_tag: u16,
}

impl From<&Reservation> for ReservationBody {
    fn from(r: &Reservation) -> Self {
        Self {
            site1: r.site1.clone(),
            site2: r.site2.clone(),
            bandwidth: r.bandwidth,
            start_date: format_date(r.start),
            end_date: format_date(r.end),
            id: r.id.clone(),
            experiment_id: r.experiment_id.clone(),
            created_at: format_date(r.created_at),
            created_by: r.created_by.clone(),
            site1_s_tag: r.site1_s_tag,
            site1_c_tag: r.site1_c_tag,
            site2_s_tag: r.site2_s_tag,
            site2_c_tag: r.site2_c_tag,
        }
    }
}

/// Claims of a signed connectivity token, in the seed's order.
#[derive(Debug, Serialize)]
pub struct ConnectivityClaims<'a> {
    /// The service URL.
    pub iss: &'a str,
    /// The reservation.
    pub connectivity: &'a ReservationBody,
    /// Expiry (seconds).
    pub exp: i64,
    /// Issue time (seconds).
    pub iat: i64,
    /// Reservation id.
    pub sub: &'a str,
}

/// A reservation request as documented (for the OpenAPI document).
#[derive(Debug, ToSchema)]
#[expect(
    dead_code,
    reason = "schema only; requests are parsed by ReservationInput::parse"
)]
pub struct ReservationRequestBody {
    /// First site.
    #[schema(example = "pl-poznan1")]
    site1: String,
    /// Second site.
    #[schema(example = "be-gent1")]
    site2: String,
    /// Mbps, as a number or a numeric string.
    #[schema(value_type = String, example = "100")]
    bandwidth: String,
    /// Start; `null` with `?start_now=true`.
    #[schema(example = "2024-10-02T10:00:00.630Z")]
    start_date: Option<String>,
    /// End (exclusive).
    #[schema(example = "2024-10-13T10:00:00.630Z")]
    end_date: String,
    /// The caller's SLICES user token(s).
    tokens: Vec<String>,
    /// Also allocate C-tags (QinQ). netorch extension, default false.
    qinq: Option<bool>,
}

/// A parsed request body, before domain validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ReservationInput {
    /// First site.
    pub site1: String,
    /// Second site.
    pub site2: String,
    /// Mbps (validated later against zero / capacity).
    pub bandwidth: Bandwidth,
    /// Start, if given.
    pub start: Option<Micros>,
    /// End.
    pub end: Micros,
    /// User tokens.
    pub tokens: Vec<String>,
    /// QinQ requested.
    pub qinq: bool,
}

/// A bandwidth as given: a whole number of Mbps, or why it is not one.
#[derive(Debug, Clone, PartialEq)]
pub enum Bandwidth {
    /// Whole Mbps.
    Mbps(i64),
    /// A number that is not a positive whole count of Mbps that fits (message for the caller).
    Invalid(String),
}

fn loc(path: &[&str]) -> Vec<Value> {
    path.iter().map(|p| Value::String((*p).into())).collect()
}

fn detail(path: &[&str], msg: &str, kind: &str) -> Detail {
    Detail {
        loc: loc(path),
        msg: msg.into(),
        kind: kind.into(),
    }
}

fn bandwidth(v: &Value) -> Result<Bandwidth, Detail> {
    let number = match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => s.trim().parse::<f64>().map_err(|_| {
            detail(
                &["body", "bandwidth"],
                "Input should be a valid number, unable to parse string as a number",
                "float_parsing",
            )
        })?,
        _ => {
            return Err(detail(
                &["body", "bandwidth"],
                "Input should be a valid number",
                "float_type",
            ));
        }
    };
    Ok(if !number.is_finite() {
        Bandwidth::Invalid(format!(
            "bandwidth must be a finite number of Mbps, got {v}"
        ))
    } else if number <= 0.0 {
        Bandwidth::Invalid(format!("bandwidth must be greater than 0 Mbps, got {v}"))
    } else if number.fract() != 0.0 {
        Bandwidth::Invalid(format!(
            "bandwidth is reserved in whole Mbps, got {v}; round it to {}",
            number.ceil()
        ))
    } else if number > 1e12 {
        Bandwidth::Invalid(format!("bandwidth {v} Mbps is larger than any link"))
    } else {
        Bandwidth::Mbps(number as i64)
    })
}

impl ReservationInput {
    /// Parses a request body, collecting every field error as FastAPI would (all at once).
    pub fn parse(body: &[u8]) -> Result<Self, SlicesError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            SlicesError::Validation(vec![Detail {
                loc: vec![Value::String("body".into()), Value::from(e.column())],
                msg: format!("JSON decode error: {e}"),
                kind: "json_invalid".into(),
            }])
        })?;
        let Value::Object(map) = v else {
            return Err(SlicesError::Validation(vec![detail(
                &["body"],
                "Input should be a valid dictionary or object to extract fields from",
                "model_attributes_type",
            )]));
        };
        let mut errors = Vec::new();
        let mut string = |name: &str, required: bool| -> Option<String> {
            match map.get(name) {
                None | Some(Value::Null) if required => {
                    errors.push(detail(&["body", name], "Field required", "missing"));
                    None
                }
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => {
                    errors.push(detail(
                        &["body", name],
                        "Input should be a valid string",
                        "string_type",
                    ));
                    None
                }
            }
        };
        let site1 = string("site1", true);
        let site2 = string("site2", true);
        let start_text = string("start_date", false);
        let end_text = string("end_date", true);
        let mut date = |name: &str, text: Option<String>| {
            text.and_then(|t| {
                let parsed = parse_date(&t);
                if parsed.is_none() {
                    errors.push(detail(
                        &["body", name],
                        &format!(
                            "Input should be a valid datetime, e.g. 2024-10-02T10:00:00.630Z (got '{t}')"
                        ),
                        "datetime_parsing",
                    ));
                }
                parsed
            })
        };
        let start = date("start_date", start_text);
        let end = date("end_date", end_text);
        let bw = match map.get("bandwidth") {
            None | Some(Value::Null) => {
                errors.push(detail(&["body", "bandwidth"], "Field required", "missing"));
                None
            }
            Some(v) => match bandwidth(v) {
                Ok(b) => Some(b),
                Err(d) => {
                    errors.push(d);
                    None
                }
            },
        };
        let tokens = match map.get("tokens") {
            None | Some(Value::Null) => {
                errors.push(detail(&["body", "tokens"], "Field required", "missing"));
                Vec::new()
            }
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, t) in items.iter().enumerate() {
                    match t {
                        Value::String(s) => out.push(s.clone()),
                        _ => errors.push(Detail {
                            loc: vec!["body".into(), "tokens".into(), Value::from(i)],
                            msg: "Input should be a valid string".into(),
                            kind: "string_type".into(),
                        }),
                    }
                }
                out
            }
            Some(_) => {
                errors.push(detail(
                    &["body", "tokens"],
                    "Input should be a valid list",
                    "list_type",
                ));
                Vec::new()
            }
        };
        let qinq = match map.get("qinq") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                errors.push(detail(
                    &["body", "qinq"],
                    "Input should be a valid boolean",
                    "bool_type",
                ));
                false
            }
        };
        match (site1, site2, bw, end) {
            (Some(site1), Some(site2), Some(bandwidth), Some(end)) if errors.is_empty() => {
                Ok(Self {
                    site1,
                    site2,
                    bandwidth,
                    start,
                    end,
                    tokens,
                    qinq,
                })
            }
            _ => Err(SlicesError::Validation(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_with_trailing_zeros_trimmed_as_the_seed_shows() {
        let m = parse_date("2024-10-02T10:00:00.630Z").expect("date");
        assert_eq!(format_date(m), "2024-10-02T10:00:00.63Z");
        let m = parse_date("2024-10-01T12:20:28.255Z").expect("date");
        assert_eq!(format_date(m), "2024-10-01T12:20:28.255Z");
        let m = parse_date("2024-10-02T12:00:00+02:00").expect("date");
        assert_eq!(format_date(m), "2024-10-02T10:00:00Z");
        assert_eq!(
            parse_date("2024-10-02T10:00:00"),
            parse_date("2024-10-02T10:00:00Z")
        );
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn bandwidth_is_accepted_as_string_or_number_and_refused_when_not_whole_positive() {
        assert_eq!(bandwidth(&"100".into()), Ok(Bandwidth::Mbps(100)));
        assert_eq!(bandwidth(&100.into()), Ok(Bandwidth::Mbps(100)));
        assert_eq!(bandwidth(&100.0.into()), Ok(Bandwidth::Mbps(100)));
        assert!(matches!(bandwidth(&0.into()), Ok(Bandwidth::Invalid(_))));
        assert!(matches!(bandwidth(&(-5).into()), Ok(Bandwidth::Invalid(_))));
        assert!(matches!(
            bandwidth(&"1e30".into()),
            Ok(Bandwidth::Invalid(_))
        ));
        assert!(matches!(
            bandwidth(&"2.5".into()),
            Ok(Bandwidth::Invalid(_))
        ));
        assert_eq!(
            bandwidth(&"lots".into()).map_err(|d| d.kind),
            Err("float_parsing".to_string())
        );
        assert_eq!(
            bandwidth(&Value::Bool(true)).map_err(|d| d.kind),
            Err("float_type".to_string())
        );
    }

    #[test]
    fn every_field_error_is_reported_at_once_with_its_path() {
        let Err(SlicesError::Validation(errors)) =
            ReservationInput::parse(br#"{"site1": 5, "bandwidth": "x", "tokens": [1]}"#)
        else {
            panic!("expected validation errors");
        };
        let locs: Vec<String> = errors.iter().map(|d| format!("{:?}", d.loc)).collect();
        assert!(locs.iter().any(|l| l.contains("site1")), "{locs:?}");
        assert!(locs.iter().any(|l| l.contains("site2")), "{locs:?}");
        assert!(locs.iter().any(|l| l.contains("end_date")), "{locs:?}");
        assert!(locs.iter().any(|l| l.contains("bandwidth")), "{locs:?}");
        assert!(
            locs.iter().any(|l| l.contains("tokens") && l.contains('0')),
            "{locs:?}"
        );
    }
}
