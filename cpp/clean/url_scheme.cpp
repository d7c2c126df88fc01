#include "clean/url_scheme.h"

namespace airtune::clean {

namespace {

bool is_c0_or_space(unsigned char c) { return c <= 0x20; }
bool is_tab_or_newline(char c) { return c == '\t' || c == '\n' || c == '\r'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_scheme_char(char c) { return is_alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'; }

}  // namespace

std::string url_as_parsed(std::string_view url) {
  size_t b = 0, e = url.size();
  while (b < e && is_c0_or_space(static_cast<unsigned char>(url[b]))) ++b;
  while (e > b && is_c0_or_space(static_cast<unsigned char>(url[e - 1]))) --e;
  std::string out;
  out.reserve(e - b);
  for (size_t i = b; i < e; ++i)
    if (!is_tab_or_newline(url[i])) out.push_back(url[i]);
  return out;
}

std::string url_scheme(std::string_view url) {
  // Only the scheme matters: scan the stripped prefix without building the whole URL.
  size_t i = 0;
  while (i < url.size() && is_c0_or_space(static_cast<unsigned char>(url[i]))) ++i;
  std::string scheme;
  for (; i < url.size(); ++i) {
    const char c = url[i];
    if (is_tab_or_newline(c)) continue;
    if (c == ':') return scheme.empty() ? std::string() : scheme;
    if (scheme.empty() ? !is_alpha(c) : !is_scheme_char(c)) return {};
    scheme.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
  }
  return {};  // no ':': a relative URL
}

bool is_script_url(std::string_view url) {
  const std::string s = url_scheme(url);
  return s == "javascript" || s == "vbscript" || s == "data";
}

}  // namespace airtune::clean
