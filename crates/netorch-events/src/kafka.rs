//! Kafka sink (cargo feature `kafka`), on the pure-Rust `rskafka` client.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use netorch_core::events::{EventSink, OutboxEvent, SinkError};
use rskafka::{
    BackoffConfig,
    client::{
        Client, ClientBuilder,
        partition::{Compression, UnknownTopicHandling},
    },
    record::Record,
};
use tokio::sync::Mutex;

/// Publishes events to Kafka: topic = `<prefix><event topic>`, key = event key, value = the JSON
/// envelope, header `event-id` = event id (for de-duplication). Topics must exist (brokers such as
/// tansu do not auto-create them); `ensure_topics` creates the ones given.
pub struct KafkaSink {
    brokers: Vec<String>,
    sasl: Option<KafkaAuth>,
    prefix: String,
    create_topics: bool,
    client: Mutex<Option<Arc<Client>>>,
    known_topics: Mutex<std::collections::BTreeSet<String>>,
}

/// SASL credentials for the brokers.
#[derive(Clone)]
pub struct KafkaAuth {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for KafkaAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaAuth")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl KafkaAuth {
    /// The mechanisms the client speaks.
    pub const MECHANISMS: [&'static str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

    fn config(&self) -> Result<rskafka::client::SaslConfig, SinkError> {
        use rskafka::client::{Credentials, SaslConfig};
        let c = Credentials::new(self.username.clone(), self.password.clone());
        match self.mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => Ok(SaslConfig::Plain(c)),
            "SCRAM-SHA-256" => Ok(SaslConfig::ScramSha256(c)),
            "SCRAM-SHA-512" => Ok(SaslConfig::ScramSha512(c)),
            m => Err(SinkError(format!("unknown SASL mechanism {m}"))),
        }
    }
}

impl KafkaSink {
    /// A sink for `brokers` (`host:port`). Connects lazily, so a broker that is down at start-up
    /// only delays delivery. With `create_topics`, a topic is created (1 partition) the first time
    /// an event needs it, for brokers that do not auto-create topics.
    pub fn new(brokers: Vec<String>, prefix: String, create_topics: bool) -> Self {
        Self {
            brokers,
            sasl: None,
            prefix,
            create_topics,
            client: Mutex::new(None),
            known_topics: Mutex::new(Default::default()),
        }
    }

    /// Authenticates to the brokers with SASL.
    pub fn with_sasl(mut self, auth: KafkaAuth) -> Self {
        self.sasl = Some(auth);
        self
    }

    async fn client(&self) -> Result<Arc<Client>, SinkError> {
        let mut guard = self.client.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let mut builder = ClientBuilder::new(self.brokers.clone());
        if let Some(auth) = &self.sasl {
            builder = builder.sasl_config(auth.config()?);
        }
        let c = Arc::new(
            builder
                // rskafka retries forever by default; a bounded retry lets the relay record the
                // failure and back off itself, with the events safe in the outbox.
                .backoff_config(BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(2),
                    base: 3.,
                    deadline: Some(Duration::from_secs(10)),
                })
                .build()
                .await
                .map_err(|e| SinkError(format!("kafka connect: {e}")))?,
        );
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Creates topics that do not exist yet (1 partition, replication 1).
    pub async fn ensure_topics(&self, topics: &[&str]) -> Result<(), SinkError> {
        let client = self.client().await?;
        let existing = client
            .list_topics()
            .await
            .map_err(|e| SinkError(format!("kafka list topics: {e}")))?;
        let controller = client
            .controller_client()
            .map_err(|e| SinkError(format!("kafka controller: {e}")))?;
        for t in topics {
            let name = format!("{}{t}", self.prefix);
            if !existing.iter().any(|x| x.name == name) {
                controller
                    .create_topic(&name, 1, 1, 5_000)
                    .await
                    .map_err(|e| SinkError(format!("kafka create topic {name}: {e}")))?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl EventSink for KafkaSink {
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        let result = tokio::time::timeout(Duration::from_secs(30), self.produce(events))
            .await
            .unwrap_or_else(|_| Err(SinkError("kafka produce timed out".into())));
        if result.is_err() {
            // Reconnect (and re-read metadata) on the next attempt.
            *self.client.lock().await = None;
        }
        result
    }
}

impl KafkaSink {
    async fn produce(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        if self.create_topics {
            let mut missing: Vec<&str> = Vec::new();
            {
                let known = self.known_topics.lock().await;
                for e in events {
                    if !known.contains(&e.topic) && !missing.contains(&e.topic.as_str()) {
                        missing.push(&e.topic);
                    }
                }
            }
            if !missing.is_empty() {
                self.ensure_topics(&missing).await?;
                let mut known = self.known_topics.lock().await;
                known.extend(missing.iter().map(|t| t.to_string()));
            }
        }
        let client = self.client().await?;
        let mut by_topic: BTreeMap<String, Vec<Record>> = BTreeMap::new();
        for e in events {
            by_topic
                .entry(format!("{}{}", self.prefix, e.topic))
                .or_default()
                .push(Record {
                    key: Some(e.key.clone().into_bytes()),
                    value: Some(crate::envelope(e).to_string().into_bytes()),
                    headers: BTreeMap::from([("event-id".to_string(), e.id.clone().into_bytes())]),
                    timestamp: chrono_now(),
                });
        }
        for (topic, records) in by_topic {
            let partition = client
                .partition_client(topic.clone(), 0, UnknownTopicHandling::Retry)
                .await
                .map_err(|e| SinkError(format!("kafka topic {topic}: {e}")))?;
            partition
                .produce(records, Compression::NoCompression)
                .await
                .map_err(|e| SinkError(format!("kafka produce to {topic}: {e}")))?;
        }
        Ok(())
    }
}

fn chrono_now() -> rskafka::chrono::DateTime<rskafka::chrono::Utc> {
    use netorch_core::Clock as _;
    rskafka::chrono::DateTime::from_timestamp_micros(netorch_core::SystemClock.now())
        .unwrap_or_default()
}
