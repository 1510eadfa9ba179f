#!/bin/bash
# The official image's kafka-broker-api-versions.sh (docker-compose.yml's healthcheck).
exec java -Xmx128m -Dlog4j.configuration=file:/opt/kafka/config/log4j.properties \
        -cp '/opt/kafka/libs/*' kafka.admin.BrokerApiVersionsCommand "$@"
