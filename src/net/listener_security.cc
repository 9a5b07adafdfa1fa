#include "net/listener_security.h"

#include <cctype>

#include "net/sasl.h"
#include "net/tls_context.h"

namespace rill::net {

std::string_view protocol_name(security_protocol p) {
    switch (p) {
        case security_protocol::plaintext:
            return "PLAINTEXT";
        case security_protocol::ssl:
            return "SSL";
        case security_protocol::sasl_plaintext:
            return "SASL_PLAINTEXT";
        case security_protocol::sasl_ssl:
            return "SASL_SSL";
    }
    return "PLAINTEXT";
}

std::optional<security_protocol> parse_protocol(std::string_view name) {
    for (auto p : {security_protocol::plaintext, security_protocol::ssl,
                   security_protocol::sasl_plaintext, security_protocol::sasl_ssl})
        if (protocol_name(p) == name) return p;
    return std::nullopt;
}

namespace {

std::string upper(std::string_view s) {
    std::string out;
    for (char c : s)
        out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
        s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.remove_suffix(1);
    return s;
}

}  // namespace

result<std::map<std::string, security_protocol>, std::string> parse_protocol_map(
    std::string_view text) {
    std::map<std::string, security_protocol> out;
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t comma = text.find(',', pos);
        if (comma == std::string_view::npos) comma = text.size();
        auto entry = trim(text.substr(pos, comma - pos));
        pos = comma + 1;
        if (entry.empty()) continue;
        auto colon = entry.find(':');
        if (colon == std::string_view::npos || colon == 0)
            return unexpected("listener.security.protocol.map: entry '" + std::string(entry) +
                              "' is not NAME:PROTOCOL");
        auto name = upper(trim(entry.substr(0, colon)));
        auto proto_text = upper(trim(entry.substr(colon + 1)));
        auto proto = parse_protocol(proto_text);
        if (!proto)
            return unexpected("listener.security.protocol.map: unknown security protocol '" +
                              proto_text + "' for listener " + name);
        if (out.contains(name))
            return unexpected("listener.security.protocol.map: listener " + name +
                              " is mapped twice");
        out[name] = *proto;
    }
    return out;
}

std::optional<std::string> listener_setting(const broker_config& config, std::string_view listener,
                                            std::string_view key) {
    std::string lower;
    for (char c : listener)
        lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    const std::string prefixed = "listener.name." + lower + "." + std::string(key);
    if (const auto* v = config.dynamic_values().get(prefixed)) return *v;
    if (const auto* v = config.static_values().get(prefixed)) return *v;
    return config.get(key);
}

result<std::shared_ptr<const listener_security>, std::string> make_listener_security(
    const broker_config& config, const std::string& name, security_protocol p,
    std::shared_ptr<const scram_credential_store> scram) {
    auto sec = std::make_shared<listener_security>();
    sec->listener_name = name;
    sec->protocol = p;
    if (uses_tls(p)) {
        auto ctx = make_tls_context(config, name);
        if (!ctx) return unexpected(ctx.error());
        sec->tls = std::move(*ctx);
    }
    if (uses_sasl(p)) {
        auto sasl = make_sasl_config(config, name, std::move(scram));
        if (!sasl) return unexpected(sasl.error());
        sec->sasl = std::move(*sasl);
    }
    return std::shared_ptr<const listener_security>(std::move(sec));
}

}  // namespace rill::net
