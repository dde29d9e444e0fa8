//! The broker binary: reads the configuration, sets up logging and runs the event loop.

use std::path::Path;
use std::process::ExitCode;

use kafka_broker::broker::Broker;
use kafka_broker::config::Config;
use kafka_broker::server::{Limits, ListenerSpec, Server};
use log::{error, info};

const USAGE: &str = "usage: kafka-broker [server.properties]\n       \
kafka-broker --repair [server.properties]\n\n\
A single-threaded Kafka broker. With no file it listens on 127.0.0.1:9092 and keeps its\n\
log in /tmp/kraft-combined-logs. RUST_LOG=debug traces every request.\n\
--repair (with the broker stopped) moves every corrupt region of the log dir's segments\n\
into a `.corrupt-<position>` file beside its segment and keeps every valid batch.";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--repair") {
        args.remove(0);
        return repair(&args);
    }
    let config = match args.as_slice() {
        [] => Config::default(),
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        [flag] if flag == "--version" || flag == "-V" => {
            println!("kafka-broker {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        [path] => match Config::load(Path::new(path)) {
            Ok(config) => config,
            Err(e) => {
                eprintln!("kafka-broker: configuration error: {e}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    kafka_broker::logging::install();
    let limits = Limits {
        frame_bytes_max: config.socket_request_max_bytes,
        connections_max: config.max_connections,
        connections_per_ip_max: config.max_connections_per_ip,
        listen_backlog: config.socket_listen_backlog_size,
        output_bytes_high: 8 << 20,
        write_bytes_per_turn: 4 << 20,
        read_bytes_per_turn: 256 << 10,
        queued_bytes_max: config.queued_max_request_bytes,
    };
    let listen = config.listen;
    let log_dir = config.log_dir.clone();
    // The listeners, TLS ones with their certificates read now: a bad setting stops here.
    let mut specs = Vec::with_capacity(config.listeners.len());
    for listener in &config.listeners {
        let tls = match listener.protocol.is_tls() {
            false => None,
            true => {
                match kafka_broker::security::tls::server_config(&config.properties, listener) {
                    Ok(tls) => Some(tls),
                    Err(e) => {
                        eprintln!("kafka-broker: configuration error: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
        };
        specs.push(ListenerSpec {
            addr: listener.addr,
            tls,
        });
    }
    if let Err(e) = kafka_broker::security::Security::new(&config) {
        eprintln!("kafka-broker: configuration error: {e}");
        return ExitCode::from(2);
    }
    let names: Vec<(String, &'static str)> = config
        .listeners
        .iter()
        .map(|l| (l.name.clone(), l.protocol.name()))
        .collect();
    let broker = match Broker::open(config) {
        Ok(broker) => broker,
        Err(e) => {
            eprintln!(
                "kafka-broker: cannot open log dir {}: {e}",
                log_dir.display()
            );
            return ExitCode::from(1);
        }
    };
    let mut server = match Server::bind(&specs, limits, broker) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("kafka-broker: cannot listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = server.handle_signals() {
        eprintln!("kafka-broker: cannot handle SIGTERM and SIGINT: {e}");
        return ExitCode::from(1);
    }
    info!(
        "kafka-broker {} listening on {} with log dir {}",
        env!("CARGO_PKG_VERSION"),
        server.local_addr().map_or(listen, |a| a),
        log_dir.display()
    );
    for ((name, protocol), addr) in names.iter().zip(server.local_addrs().unwrap_or_default()) {
        info!("listener {name} ({protocol}) on {addr}");
    }
    log::debug!(
        "CRC-32C by {}",
        kafka_broker::storage::crc32c::implementation()
    );
    // run returns after a controlled shutdown (SIGTERM, SIGINT).
    if let Err(e) = server.run() {
        error!("event loop failed: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// `kafka-broker --repair [server.properties]`: see `storage::recovery::repair`. Prints one
/// line per region it moved aside or torn tail it cut; exits 0 when the log dir is whole.
fn repair(args: &[String]) -> ExitCode {
    let config = match args {
        [] => Config::default(),
        [path] => match Config::load(Path::new(path)) {
            Ok(config) => config,
            Err(e) => {
                eprintln!("kafka-broker: configuration error: {e}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match kafka_broker::storage::recovery::repair(&config.log_dir) {
        Ok(repaired) => {
            for r in &repaired {
                match &r.saved {
                    Some(saved) => println!(
                        "{}: moved {} corrupt bytes at position {} to {}",
                        r.segment.display(),
                        r.bytes,
                        r.position,
                        saved.display()
                    ),
                    None => println!(
                        "{}: truncated a torn write of {} bytes at position {}",
                        r.segment.display(),
                        r.bytes,
                        r.position
                    ),
                }
            }
            println!(
                "{}: {} region(s) repaired; every other batch is kept",
                config.log_dir.display(),
                repaired.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kafka-broker: repair of {}: {e}", config.log_dir.display());
            ExitCode::from(1)
        }
    }
}
