# Managed by deployer: local changes are overwritten on the next apply.
# dehydrated reads this after Debian's /etc/dehydrated/config.
CA={{ tls.acme.directory | shell }}
CONTACT_EMAIL={{ tls.acme.email | shell }}
CHALLENGETYPE=http-01
# nginx serves this directory on port 80 for every site name.
WELLKNOWN={{ tls.acme.challenges | shell }}
KEY_ALGO=prime256v1
RENEW_DAYS={{ tls.acme.renew_days }}
HOOK=/usr/local/lib/deployer/acme-hook
{%- if tls.acme.ca %}
CURL_OPTS="--cacert {{ paths.acme_ca }}"
{%- endif %}
