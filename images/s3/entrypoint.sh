#!/bin/sh
# moto on :5000, stunnel (self-signed certificate for the names s3/localhost) on :443
set -e
mkdir -p /run/s3
if [ ! -f /run/s3/cert.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=s3 \
    -addext "subjectAltName=DNS:s3,DNS:localhost,IP:127.0.0.1" \
    -keyout /run/s3/key.pem -out /run/s3/cert.pem 2>/dev/null
fi
cat > /run/s3/stunnel.conf <<CONF
foreground = yes
pid =
[s3]
accept = 443
connect = 127.0.0.1:5000
cert = /run/s3/cert.pem
key = /run/s3/key.pem
CONF
/opt/moto/bin/moto_server -H 0.0.0.0 -p 5000 &
exec stunnel4 /run/s3/stunnel.conf
