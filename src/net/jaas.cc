#include "net/jaas.h"

#include <cctype>
#include <optional>

namespace rill::net {
namespace {

struct token {
    enum kind { word, quoted, symbol, end } k;
    std::string text;
};

class tokenizer {
  public:
    explicit tokenizer(std::string_view s) : s_(s) {}

    // nullopt: malformed (unterminated string or comment); `error_` says why.
    std::optional<token> next() {
        skip_space_and_comments();
        if (!error_.empty()) return std::nullopt;
        if (pos_ >= s_.size()) return token{token::end, {}};
        const char c = s_[pos_];
        if (c == '"' || c == '\'') return quoted(c);
        if (is_word(c)) {
            size_t b = pos_;
            while (pos_ < s_.size() && is_word(s_[pos_]))
                ++pos_;
            return token{token::word, std::string(s_.substr(b, pos_ - b))};
        }
        ++pos_;
        return token{token::symbol, std::string(1, c)};
    }
    size_t position() const { return pos_; }
    const std::string& error() const { return error_; }

  private:
    static bool is_word(char c) {
        const auto u = static_cast<unsigned char>(c);
        return std::isalnum(u) || c == '_' || c == '-' || c == '$' || c == '.' || u >= 0x80;
    }
    void skip_space_and_comments() {
        for (;;) {
            while (pos_ < s_.size() && static_cast<unsigned char>(s_[pos_]) <= ' ')
                ++pos_;
            if (s_.substr(pos_).starts_with("//")) {
                while (pos_ < s_.size() && s_[pos_] != '\n')
                    ++pos_;
                continue;
            }
            if (s_.substr(pos_).starts_with("/*")) {
                auto e = s_.find("*/", pos_ + 2);
                if (e == std::string_view::npos) {
                    error_ = "unterminated /* comment";
                    return;
                }
                pos_ = e + 2;
                continue;
            }
            return;
        }
    }
    std::optional<token> quoted(char q) {
        const size_t start = pos_++;
        std::string out;
        while (pos_ < s_.size() && s_[pos_] != q) {
            char c = s_[pos_++];
            if (c == '\\' && pos_ < s_.size()) {
                char e = s_[pos_++];
                switch (e) {
                    case 'n':
                        c = '\n';
                        break;
                    case 't':
                        c = '\t';
                        break;
                    case 'r':
                        c = '\r';
                        break;
                    case 'b':
                        c = '\b';
                        break;
                    case 'f':
                        c = '\f';
                        break;
                    default:
                        c = e;  // \\ \" \' and any other character as itself
                }
            }
            out.push_back(c);
        }
        if (pos_ >= s_.size()) {
            error_ = "unterminated quoted value starting at offset " + std::to_string(start);
            return std::nullopt;
        }
        ++pos_;
        return token{token::quoted, std::move(out)};
    }

    std::string_view s_;
    size_t pos_ = 0;
    std::string error_;
};

}  // namespace

result<std::vector<jaas_module>, std::string> parse_jaas(std::string_view text) {
    tokenizer t(text);
    std::vector<jaas_module> modules;
    auto bad = [&](const std::string& what) {
        return unexpected("JAAS config: " + what + " at offset " + std::to_string(t.position()));
    };
    for (;;) {
        auto tok = t.next();
        if (!tok) return bad(t.error());
        if (tok->k == token::end) break;
        if (tok->k != token::word) return bad("expected a login module class name");
        jaas_module m;
        m.login_module = tok->text;
        auto flag = t.next();
        if (!flag) return bad(t.error());
        if (flag->k != token::word)
            return bad("expected a control flag after login module " + m.login_module);
        std::string f;
        for (char c : flag->text)
            f.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        if (f != "required" && f != "requisite" && f != "sufficient" && f != "optional")
            return bad("invalid control flag '" + flag->text + "' for login module " +
                       m.login_module);
        m.flag = f;
        for (;;) {
            auto o = t.next();
            if (!o) return bad(t.error());
            if (o->k == token::symbol && o->text == ";") break;
            if (o->k == token::end) return bad("expected ';' after login module " + m.login_module);
            if (o->k != token::word) return bad("expected an option name");
            auto eq = t.next();
            if (!eq) return bad(t.error());
            if (eq->k != token::symbol || eq->text != "=")
                return bad("expected '=' after option " + o->text);
            auto v = t.next();
            if (!v) return bad(t.error());
            if (v->k != token::word && v->k != token::quoted)
                return bad("value not specified for option " + o->text);
            m.options[o->text] = v->text;
        }
        modules.push_back(std::move(m));
    }
    if (modules.empty()) return unexpected(std::string("JAAS config: login module not specified"));
    return modules;
}

}  // namespace rill::net
