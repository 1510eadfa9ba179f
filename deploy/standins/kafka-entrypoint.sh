#!/bin/bash
# Entry point of the apache/kafka stand-in: KAFKA_FOO_BAR=x becomes foo.bar=x in
# server.properties (as the official image does), the storage is formatted on
# first start, then the broker runs in the foreground (SIGTERM stops it cleanly).
set -euo pipefail
conf=/opt/kafka/config/server.properties
: >"$conf"
while IFS='=' read -r name value; do
        case $name in
        KAFKA_HEAP_OPTS | KAFKA_JVM_OPTS | KAFKA_CLUSTER_ID) continue ;;
        KAFKA_*) key=${name#KAFKA_} ;;
        *) continue ;;
        esac
        key=$(tr 'A-Z_' 'a-z.' <<<"$key")
        printf '%s=%s\n' "$key" "$value" >>"$conf"
done < <(env)
cat >/opt/kafka/config/log4j.properties <<'EOS'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOS
java_opts=(${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -Dlog4j.configuration=file:/opt/kafka/config/log4j.properties)
logdir=$(sed -n 's/^log\.dirs=//p' "$conf")
if [ ! -f "${logdir:-/var/lib/kafka/data}/meta.properties" ]; then
        java "${java_opts[@]}" -cp '/opt/kafka/libs/*' kafka.tools.StorageTool format \
                -t "${KAFKA_CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}" -c "$conf" --ignore-formatted >&2
fi
exec java "${java_opts[@]}" -cp '/opt/kafka/libs/*' kafka.Kafka "$conf"
