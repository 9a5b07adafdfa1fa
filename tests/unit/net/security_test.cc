// JAAS parsing, listener.security.protocol.map, SCRAM (RFC 7677's test vector) and PLAIN.
#include <gtest/gtest.h>

#include "net/jaas.h"
#include "net/listener_security.h"
#include "net/sasl.h"
#include "net/scram.h"

namespace rill::net {
namespace {

TEST(Jaas, ParsesKafkasPlainExample) {
    auto m = parse_jaas(
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        "username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" "
        "user_alice='alice secret';");
    ASSERT_TRUE(m) << m.error();
    ASSERT_EQ(m->size(), 1u);
    EXPECT_EQ((*m)[0].login_module, kPlainLoginModule);
    EXPECT_EQ((*m)[0].flag, "required");
    EXPECT_EQ((*m)[0].options.at("user_alice"), "alice secret");
    EXPECT_EQ((*m)[0].options.at("username"), "admin");
}

TEST(Jaas, WordsEscapesCommentsAndSeveralModules) {
    auto m = parse_jaas("/* c */ a.B required k=v-1.2 q=\"x\\\"y\\\\z\"; // tail\n c.D Optional ;");
    ASSERT_TRUE(m) << m.error();
    ASSERT_EQ(m->size(), 2u);
    EXPECT_EQ((*m)[0].options.at("k"), "v-1.2");
    EXPECT_EQ((*m)[0].options.at("q"), "x\"y\\z");
    EXPECT_EQ((*m)[1].flag, "optional");
}

TEST(Jaas, Errors) {
    EXPECT_FALSE(parse_jaas(""));
    EXPECT_FALSE(parse_jaas("a.B required user_a=\"x\""));  // no ';'
    EXPECT_FALSE(parse_jaas("a.B mandatory;"));             // bad flag
    EXPECT_FALSE(parse_jaas("a.B required user_a=;"));
    EXPECT_FALSE(parse_jaas("a.B required user_a \"x\";"));
    auto r = parse_jaas("a.B required user_a=\"secret-never-shown");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().find("secret-never-shown"), std::string::npos);
}

TEST(Jaas, PlainUsers) {
    auto u = plain_users_from_jaas(
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        "username=\"admin\" password=\"p\" user_alice=\"alice-secret\" user_bob=\"b\";");
    ASSERT_TRUE(u) << u.error();
    EXPECT_EQ(u->size(), 2u);
    EXPECT_EQ(u->at("alice"), "alice-secret");
    EXPECT_FALSE(plain_users_from_jaas("com.example.Other required user_a=\"b\";"));
}

TEST(ProtocolMap, KafkasDefaultAndNamedListeners) {
    auto m = parse_protocol_map(
        "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL");
    ASSERT_TRUE(m) << m.error();
    EXPECT_EQ(m->at("SASL_SSL"), security_protocol::sasl_ssl);
    m = parse_protocol_map(" internal:ssl , EXTERNAL:SASL_SSL ");
    ASSERT_TRUE(m) << m.error();
    EXPECT_EQ(m->at("INTERNAL"), security_protocol::ssl);
    EXPECT_EQ(m->at("EXTERNAL"), security_protocol::sasl_ssl);
    EXPECT_FALSE(parse_protocol_map("A:TLS"));
    EXPECT_FALSE(parse_protocol_map("A"));
    EXPECT_FALSE(parse_protocol_map("A:SSL,a:PLAINTEXT"));
}

TEST(ListenerSetting, PrefixedKeyWinsOverTheGlobalOne) {
    config_values v;
    v.set("ssl.client.auth", "requested");
    v.set("listener.name.internal.ssl.client.auth", "required");
    auto c = broker_config::make(v);
    ASSERT_TRUE(c) << c.error();
    EXPECT_EQ(listener_setting(*c, "INTERNAL", "ssl.client.auth"), "required");
    EXPECT_EQ(listener_setting(*c, "EXTERNAL", "ssl.client.auth"), "requested");
    EXPECT_EQ(listener_setting(*c, "EXTERNAL", "ssl.enabled.protocols"), "TLSv1.2,TLSv1.3");
    // A bad prefixed value is refused like the key itself.
    config_values bad;
    bad.set("listener.name.x.ssl.client.auth", "always");
    EXPECT_FALSE(broker_config::make(bad));
}

std::string str(const octets& o) {
    return std::string(o.begin(), o.end());
}

// RFC 7677 §3: user "user", password "pencil".
TEST(Scram, Rfc7677TestVector) {
    scram_credential_store store;
    auto salt = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
    ASSERT_TRUE(salt);
    store.put(scram_hash::sha256, "user",
              make_scram_credential(scram_hash::sha256, "pencil", *salt, 4096));
    scram_server s(scram_hash::sha256, &store, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    auto first = s.step("n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    ASSERT_FALSE(first.error) << *first.error;
    EXPECT_EQ(first.response,
              "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,"
              "i=4096");
    auto final = s.step(
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    ASSERT_FALSE(final.error) << *final.error;
    EXPECT_TRUE(final.complete);
    EXPECT_EQ(final.response, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    EXPECT_EQ(s.user(), "user");
}

TEST(Scram, WrongProofAndUnknownUserFail) {
    scram_credential_store store;
    auto salt = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
    store.put(scram_hash::sha256, "user",
              make_scram_credential(scram_hash::sha256, "pencil", *salt, 4096));
    scram_server s(scram_hash::sha256, &store, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    ASSERT_FALSE(s.step("n,,n=user,r=rOprNGfwEbeRWgbNEkqO").error);
    auto final = s.step(
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    EXPECT_TRUE(final.error);
    EXPECT_FALSE(final.complete);
    scram_server u(scram_hash::sha256, &store);
    EXPECT_TRUE(u.step("n,,n=nobody,r=abc").error);
    scram_server g(scram_hash::sha512, &store);  // no SHA-512 credential for "user"
    EXPECT_TRUE(g.step("n,,n=user,r=abc").error);
    scram_server cb(scram_hash::sha256, &store);
    EXPECT_TRUE(cb.step("p=tls-unique,,n=user,r=abc").error);
}

TEST(Scram, AddScramArgument) {
    scram_credential_store store;
    ASSERT_TRUE(add_scram_argument("SCRAM-SHA-256=[name=alice,password=alice-secret]", store));
    ASSERT_TRUE(add_scram_argument(
        "SCRAM-SHA-512=[name=bob,iterations=8192,salt=\"W22ZaJ0SNY7soEsUEjb6gQ==\","
        "password=\"b\"]",
        store));
    EXPECT_NE(store.find(scram_hash::sha256, "alice"), nullptr);
    ASSERT_NE(store.find(scram_hash::sha512, "bob"), nullptr);
    EXPECT_EQ(store.find(scram_hash::sha512, "bob")->iterations, 8192);
    EXPECT_EQ(str(store.find(scram_hash::sha512, "bob")->salt),
              str(*base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==")));
    EXPECT_FALSE(add_scram_argument("SCRAM-SHA-1=[name=a,password=b]", store));
    EXPECT_FALSE(add_scram_argument("SCRAM-SHA-256=[password=b]", store));
    EXPECT_FALSE(add_scram_argument("SCRAM-SHA-256=[name=a,iterations=10,password=b]", store));
    auto r = add_scram_argument("SCRAM-SHA-256=name=a,password=hidden", store);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().find("hidden"), std::string::npos);
}

TEST(Plain, Exchange) {
    sasl_server_config cfg;
    cfg.mechanisms = {"PLAIN"};
    cfg.plain_users = {{"alice", "alice-secret"}};
    using namespace std::string_literals;
    auto ok = make_sasl_exchange(cfg, "PLAIN");
    ASSERT_TRUE(ok);
    auto r = ok->step("\0alice\0alice-secret"s);
    EXPECT_TRUE(r.complete);
    EXPECT_FALSE(r.error);
    EXPECT_EQ(ok->user(), "alice");
    auto bad = make_sasl_exchange(cfg, "PLAIN");
    r = bad->step("\0alice\0wrong"s);
    ASSERT_TRUE(r.error);
    EXPECT_EQ(*r.error, "Authentication failed: Invalid username or password");
    EXPECT_EQ(r.reason.find("wrong"), std::string::npos);
    EXPECT_TRUE(make_sasl_exchange(cfg, "PLAIN")->step("bob\0alice\0alice-secret"s).error);
    EXPECT_TRUE(make_sasl_exchange(cfg, "PLAIN")->step("garbage"s).error);
    EXPECT_EQ(make_sasl_exchange(cfg, "SCRAM-SHA-256"), nullptr);  // not enabled
}

}  // namespace
}  // namespace rill::net
