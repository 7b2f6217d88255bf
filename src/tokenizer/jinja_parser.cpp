#include "tokenizer/jinja_parser.h"

#include <algorithm>
#include <initializer_list>

#include "tokenizer/jinja_lexer.h"

namespace chunkserve::tokenizer::jinja {
namespace {

// Expression nesting beyond this is refused rather than risking the stack on
// hostile input; real templates stay far below it.
constexpr int kMaxNesting = 200;

using ExprPtr = std::unique_ptr<Expr>;
using NodePtr = std::unique_ptr<Node>;

ExprPtr MakeExpr(ExprKind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  StatusOr<NodeList> ParseTemplate() {
    std::string end;
    ASSIGN_OR_RETURN(NodeList nodes, ParseBody({}, "", 0, &end));
    return nodes;
  }

 private:
  // ---- token helpers ----------------------------------------------------------
  const Token& Peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  const Token& Next() {
    const Token& t = Peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  bool IsOp(std::string_view op, size_t ahead = 0) const {
    const Token& t = Peek(ahead);
    return t.kind == TokenKind::kOperator && t.text == op;
  }
  bool IsName(std::string_view name, size_t ahead = 0) const {
    const Token& t = Peek(ahead);
    return t.kind == TokenKind::kName && t.text == name;
  }
  Status Error(const std::string& message) const { return ErrorAtLine(Peek().line, message); }
  static Status ErrorAtLine(int line, const std::string& message) {
    return InvalidArgumentError("chat template line " + std::to_string(line) + ": " + message);
  }
  Status Expected(const std::string& what) const {
    return Error("expected " + what + ", found " + DescribeToken(Peek()));
  }
  Status ExpectOp(std::string_view op) {
    if (!IsOp(op)) return Expected("'" + std::string(op) + "'");
    Next();
    return Status::Ok();
  }
  Status ExpectStmtClose() {
    if (Peek().kind != TokenKind::kStmtClose) return Expected("'%}'");
    Next();
    return Status::Ok();
  }
  StatusOr<std::string> ExpectName(const std::string& what) {
    if (Peek().kind != TokenKind::kName) return Expected(what);
    return Next().text;
  }

  // ---- statements ----------------------------------------------------------------

  // Parses nodes until a `{% <one of end_tags> ...` (left unconsumed after the
  // tag name, which is stored in *end) or the end of input (only allowed when
  // end_tags is empty).
  StatusOr<NodeList> ParseBody(std::initializer_list<std::string_view> end_tags,
                               const std::string& opener, int opener_line, std::string* end) {
    NodeList nodes;
    while (true) {
      const Token& t = Peek();
      switch (t.kind) {
        case TokenKind::kEnd:
          if (end_tags.size() != 0) {
            return ErrorAtLine(opener_line, "'" + opener + "' is never closed (expected '{% " +
                                                std::string(*end_tags.begin()) + " %}')");
          }
          return nodes;
        case TokenKind::kText: {
          auto node = std::make_unique<Node>();
          node->kind = NodeKind::kText;
          node->line = t.line;
          node->text = t.text;
          Next();
          nodes.push_back(std::move(node));
          break;
        }
        case TokenKind::kExprOpen: {
          auto node = std::make_unique<Node>();
          node->kind = NodeKind::kOutput;
          node->line = t.line;
          Next();
          ASSIGN_OR_RETURN(node->expr, ParseTuple(true));
          if (Peek().kind != TokenKind::kExprClose) return Expected("'}}'");
          Next();
          nodes.push_back(std::move(node));
          break;
        }
        case TokenKind::kStmtOpen: {
          const Token& name = Peek(1);
          if (name.kind != TokenKind::kName) {
            Next();
            return Expected("a tag name after '{%'");
          }
          if (std::find(end_tags.begin(), end_tags.end(), name.text) != end_tags.end()) {
            Next();
            Next();
            *end = name.text;
            return nodes;
          }
          Next();
          ASSIGN_OR_RETURN(NodePtr node, ParseStatement());
          nodes.push_back(std::move(node));
          break;
        }
        default:
          return Expected("text or a tag");
      }
    }
  }

  StatusOr<NodePtr> ParseStatement() {
    const Token& tag = Next();
    const int line = tag.line;
    const std::string name = tag.text;
    if (++depth_ > kMaxNesting) return ErrorAtLine(line, "blocks nested too deeply");
    StatusOr<NodePtr> result = Status(StatusCode::kInternal, "unreachable");
    if (name == "if") {
      result = ParseIf(line);
    } else if (name == "for") {
      result = ParseFor(line);
    } else if (name == "set") {
      result = ParseSet(line);
    } else if (name == "macro") {
      result = ParseMacro(line);
    } else if (name == "break" || name == "continue") {
      auto node = std::make_unique<Node>();
      node->kind = name == "break" ? NodeKind::kBreak : NodeKind::kContinue;
      node->line = line;
      Status s = ExpectStmtClose();
      result = s.ok() ? StatusOr<NodePtr>(std::move(node)) : StatusOr<NodePtr>(s);
    } else if (name == "generation") {
      result = ParseScope(line, "generation", "endgeneration");
    } else if (name == "elif" || name == "else" || name == "endif" || name == "endfor" ||
               name == "endset" || name == "endmacro" || name == "endgeneration") {
      result = ErrorAtLine(line, "unexpected '{% " + name + " %}' without a matching opening tag");
    } else if (name == "include" || name == "import" || name == "from" || name == "extends" ||
               name == "block" || name == "call" || name == "filter" || name == "with" ||
               name == "autoescape" || name == "do") {
      result = Status(StatusCode::kUnimplemented, "chat template line " + std::to_string(line) +
                                                     ": unsupported tag '{% " + name + " %}'");
    } else {
      result = ErrorAtLine(line, "unknown tag '{% " + name + " %}'");
    }
    --depth_;
    return result;
  }

  StatusOr<NodePtr> ParseIf(int line) {
    auto node = std::make_unique<Node>();
    node->kind = NodeKind::kIf;
    node->line = line;
    std::string end;
    ASSIGN_OR_RETURN(ExprPtr cond, ParseTuple(true));
    RETURN_IF_ERROR(ExpectStmtClose());
    while (true) {
      ASSIGN_OR_RETURN(NodeList body, ParseBody({"elif", "else", "endif"}, "if", line, &end));
      node->branches.emplace_back(std::move(cond), std::move(body));
      if (end == "elif") {
        ASSIGN_OR_RETURN(cond, ParseTuple(true));
        RETURN_IF_ERROR(ExpectStmtClose());
        continue;
      }
      if (end == "else") {
        RETURN_IF_ERROR(ExpectStmtClose());
        ASSIGN_OR_RETURN(node->else_body, ParseBody({"endif"}, "if", line, &end));
      }
      RETURN_IF_ERROR(ExpectStmtClose());
      return node;
    }
  }

  StatusOr<NodePtr> ParseFor(int line) {
    auto node = std::make_unique<Node>();
    node->kind = NodeKind::kFor;
    node->line = line;
    const bool parenthesized = IsOp("(");
    if (parenthesized) Next();
    while (true) {
      ASSIGN_OR_RETURN(std::string target, ExpectName("a loop variable name"));
      node->targets.push_back(target);
      if (!IsOp(",")) break;
      Next();
    }
    if (parenthesized) RETURN_IF_ERROR(ExpectOp(")"));
    if (!IsName("in")) return Expected("'in'");
    Next();
    ASSIGN_OR_RETURN(node->expr, ParseTuple(false));
    if (IsName("if")) {
      Next();
      ASSIGN_OR_RETURN(node->condition, ParseExpression(true));
    }
    if (IsName("recursive")) {
      return Status(StatusCode::kUnimplemented,
                    "chat template line " + std::to_string(line) + ": unsupported recursive for loop");
    }
    RETURN_IF_ERROR(ExpectStmtClose());
    std::string end;
    ASSIGN_OR_RETURN(node->body, ParseBody({"else", "endfor"}, "for", line, &end));
    if (end == "else") {
      RETURN_IF_ERROR(ExpectStmtClose());
      ASSIGN_OR_RETURN(node->else_body, ParseBody({"endfor"}, "for", line, &end));
    }
    RETURN_IF_ERROR(ExpectStmtClose());
    return node;
  }

  StatusOr<NodePtr> ParseSet(int line) {
    auto node = std::make_unique<Node>();
    node->line = line;
    // Target: name, name.attr, or a tuple of names.
    ASSIGN_OR_RETURN(std::string first, ExpectName("a variable name after 'set'"));
    if (IsOp(".")) {
      Next();
      ASSIGN_OR_RETURN(std::string attr, ExpectName("an attribute name"));
      node->target = MakeExpr(ExprKind::kGetAttr, line);
      auto object = MakeExpr(ExprKind::kName, line);
      object->name = first;
      node->target->children.push_back(std::move(object));
      node->target->name = attr;
    } else if (IsOp(",")) {
      node->target = MakeExpr(ExprKind::kTuple, line);
      auto item = MakeExpr(ExprKind::kName, line);
      item->name = first;
      node->target->children.push_back(std::move(item));
      while (IsOp(",")) {
        Next();
        ASSIGN_OR_RETURN(std::string more, ExpectName("a variable name"));
        auto next_item = MakeExpr(ExprKind::kName, line);
        next_item->name = more;
        node->target->children.push_back(std::move(next_item));
      }
    } else {
      node->target = MakeExpr(ExprKind::kName, line);
      node->target->name = first;
    }
    if (IsOp("=")) {
      Next();
      node->kind = NodeKind::kSet;
      ASSIGN_OR_RETURN(node->expr, ParseTuple(true));
      RETURN_IF_ERROR(ExpectStmtClose());
      return node;
    }
    if (Peek().kind == TokenKind::kStmtClose) {
      if (node->target->kind != ExprKind::kName) {
        return ErrorAtLine(line, "a block set needs a plain variable name");
      }
      Next();
      node->kind = NodeKind::kSetBlock;
      std::string end;
      ASSIGN_OR_RETURN(node->body, ParseBody({"endset"}, "set", line, &end));
      RETURN_IF_ERROR(ExpectStmtClose());
      return node;
    }
    return Expected("'=' or '%}' in set");
  }

  StatusOr<NodePtr> ParseMacro(int line) {
    auto node = std::make_unique<Node>();
    node->kind = NodeKind::kMacro;
    node->line = line;
    ASSIGN_OR_RETURN(node->text, ExpectName("a macro name"));
    RETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(")")) {
      ASSIGN_OR_RETURN(std::string param, ExpectName("a parameter name"));
      ExprPtr default_value;
      if (IsOp("=")) {
        Next();
        ASSIGN_OR_RETURN(default_value, ParseExpression(true));
      }
      node->params.emplace_back(param, std::move(default_value));
      if (!IsOp(",")) break;
      Next();
    }
    RETURN_IF_ERROR(ExpectOp(")"));
    RETURN_IF_ERROR(ExpectStmtClose());
    std::string end;
    ASSIGN_OR_RETURN(node->body, ParseBody({"endmacro"}, "macro", line, &end));
    if (Peek().kind == TokenKind::kName) Next();  // optional `{% endmacro name %}`
    RETURN_IF_ERROR(ExpectStmtClose());
    return node;
  }

  StatusOr<NodePtr> ParseScope(int line, const std::string& open, std::string_view close) {
    auto node = std::make_unique<Node>();
    node->kind = NodeKind::kScope;
    node->line = line;
    RETURN_IF_ERROR(ExpectStmtClose());
    std::string end;
    ASSIGN_OR_RETURN(node->body, ParseBody({close}, open, line, &end));
    RETURN_IF_ERROR(ExpectStmtClose());
    return node;
  }

  // ---- expressions ---------------------------------------------------------------

  // An expression, or a tuple when commas follow (`a, b`).
  StatusOr<ExprPtr> ParseTuple(bool with_condexpr) {
    const int line = Peek().line;
    ASSIGN_OR_RETURN(ExprPtr first, ParseExpression(with_condexpr));
    if (!IsOp(",")) return first;
    auto tuple = MakeExpr(ExprKind::kTuple, line);
    tuple->children.push_back(std::move(first));
    while (IsOp(",")) {
      Next();
      if (!StartsExpression()) break;  // trailing comma
      ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(with_condexpr));
      tuple->children.push_back(std::move(item));
    }
    return tuple;
  }

  bool StartsExpression() const {
    const Token& t = Peek();
    switch (t.kind) {
      case TokenKind::kName:
      case TokenKind::kString:
      case TokenKind::kInt:
      case TokenKind::kFloat: return true;
      case TokenKind::kOperator:
        return t.text == "(" || t.text == "[" || t.text == "{" || t.text == "-" || t.text == "+";
      default: return false;
    }
  }

  StatusOr<ExprPtr> ParseExpression(bool with_condexpr) {
    if (++depth_ > kMaxNesting) {
      --depth_;
      return Error("expression nested too deeply");
    }
    StatusOr<ExprPtr> result = with_condexpr ? ParseTernary() : ParseOr();
    --depth_;
    return result;
  }

  StatusOr<ExprPtr> ParseTernary() {
    ASSIGN_OR_RETURN(ExprPtr expr, ParseOr());
    while (IsName("if")) {
      const int line = Next().line;
      auto ternary = MakeExpr(ExprKind::kTernary, line);
      ASSIGN_OR_RETURN(ExprPtr cond, ParseOr());
      ExprPtr else_expr;
      if (IsName("else")) {
        Next();
        ASSIGN_OR_RETURN(else_expr, ParseExpression(true));
      }
      ternary->children.push_back(std::move(expr));
      ternary->children.push_back(std::move(cond));
      ternary->children.push_back(std::move(else_expr));
      expr = std::move(ternary);
    }
    return expr;
  }

  StatusOr<ExprPtr> Binary(std::string op, ExprPtr left, ExprPtr right, int line) {
    auto e = MakeExpr(ExprKind::kBinary, line);
    e->op = std::move(op);
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
  }

  // One left-associative level: operand (op operand)*, where op is one of
  // `ops` (keywords when `keywords`, else operator tokens).
  template <typename ParseOperand>
  StatusOr<ExprPtr> ParseLeftAssociative(ParseOperand operand, std::initializer_list<std::string_view> ops,
                                         bool keywords = false) {
    ASSIGN_OR_RETURN(ExprPtr left, operand());
    while (true) {
      const Token& t = Peek();
      const bool matches = std::any_of(ops.begin(), ops.end(), [&](std::string_view op) {
        return keywords ? IsName(op) : IsOp(op);
      });
      if (!matches) return left;
      const std::string op = t.text;
      const int line = Next().line;
      ASSIGN_OR_RETURN(ExprPtr right, operand());
      ASSIGN_OR_RETURN(left, Binary(op, std::move(left), std::move(right), line));
    }
  }

  StatusOr<ExprPtr> ParseOr() {
    return ParseLeftAssociative([this] { return ParseAnd(); }, {"or"}, /*keywords=*/true);
  }

  StatusOr<ExprPtr> ParseAnd() {
    return ParseLeftAssociative([this] { return ParseNot(); }, {"and"}, /*keywords=*/true);
  }

  StatusOr<ExprPtr> ParseNot() {
    if (IsName("not")) {
      const int line = Next().line;
      if (++depth_ > kMaxNesting) {
        --depth_;
        return Error("expression nested too deeply");
      }
      StatusOr<ExprPtr> operand = ParseNot();
      --depth_;
      if (!operand.ok()) return operand.status();
      auto e = MakeExpr(ExprKind::kUnary, line);
      e->op = "not";
      e->children.push_back(std::move(operand).value());
      return e;
    }
    return ParseCompare();
  }

  StatusOr<ExprPtr> ParseCompare() {
    const int line = Peek().line;
    ASSIGN_OR_RETURN(ExprPtr first, ParseMath1());
    ExprPtr compare;
    while (true) {
      std::string op;
      const Token& t = Peek();
      if (t.kind == TokenKind::kOperator &&
          (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">=")) {
        op = t.text;
        Next();
      } else if (IsName("in")) {
        op = "in";
        Next();
      } else if (IsName("not") && IsName("in", 1)) {
        op = "notin";
        Next();
        Next();
      } else {
        break;
      }
      if (!compare) {
        compare = MakeExpr(ExprKind::kCompare, line);
        compare->children.push_back(std::move(first));
      }
      ASSIGN_OR_RETURN(ExprPtr operand, ParseMath1());
      compare->ops.push_back(op);
      compare->children.push_back(std::move(operand));
    }
    return compare ? std::move(compare) : std::move(first);
  }

  StatusOr<ExprPtr> ParseMath1() {
    return ParseLeftAssociative([this] { return ParseConcat(); }, {"+", "-"});
  }

  StatusOr<ExprPtr> ParseConcat() {
    return ParseLeftAssociative([this] { return ParseMath2(); }, {"~"});
  }

  StatusOr<ExprPtr> ParseMath2() {
    return ParseLeftAssociative([this] { return ParsePow(); }, {"*", "/", "//", "%"});
  }

  StatusOr<ExprPtr> ParsePow() {
    return ParseLeftAssociative([this] { return ParseUnary(true); }, {"**"});
  }

  StatusOr<ExprPtr> ParseUnary(bool with_filter) {
    if (++depth_ > kMaxNesting) {
      --depth_;
      return Error("expression nested too deeply");
    }
    StatusOr<ExprPtr> result = ParseUnaryInner(with_filter);
    --depth_;
    return result;
  }

  StatusOr<ExprPtr> ParseUnaryInner(bool with_filter) {
    ExprPtr node;
    if (IsOp("-") || IsOp("+")) {
      const Token& t = Next();
      auto e = MakeExpr(ExprKind::kUnary, t.line);
      e->op = t.text;
      ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
      e->children.push_back(std::move(operand));
      node = std::move(e);
    } else {
      ASSIGN_OR_RETURN(node, ParsePrimary());
    }
    ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
    if (with_filter) {
      ASSIGN_OR_RETURN(node, ParseFilterExpr(std::move(node)));
    }
    return node;
  }

  StatusOr<ExprPtr> ParsePrimary() {
    const Token& t = Peek();
    const int line = t.line;
    switch (t.kind) {
      case TokenKind::kName: {
        Next();
        auto e = MakeExpr(ExprKind::kLiteral, line);
        if (t.text == "true" || t.text == "True") {
          e->literal = Value(true);
        } else if (t.text == "false" || t.text == "False") {
          e->literal = Value(false);
        } else if (t.text == "none" || t.text == "None") {
          e->literal = Value::None();
        } else {
          e->kind = ExprKind::kName;
          e->name = t.text;
        }
        return e;
      }
      case TokenKind::kString: {
        std::string s;
        while (Peek().kind == TokenKind::kString) s += Next().text;  // 'a' 'b' == 'ab'
        auto e = MakeExpr(ExprKind::kLiteral, line);
        e->literal = Value(std::move(s));
        return e;
      }
      case TokenKind::kInt: {
        auto e = MakeExpr(ExprKind::kLiteral, line);
        e->literal = Value(Next().int_value);
        return e;
      }
      case TokenKind::kFloat: {
        auto e = MakeExpr(ExprKind::kLiteral, line);
        e->literal = Value(Next().float_value);
        return e;
      }
      case TokenKind::kOperator: {
        if (t.text == "(") {
          Next();
          if (IsOp(")")) {
            Next();
            return MakeExpr(ExprKind::kTuple, line);
          }
          ASSIGN_OR_RETURN(ExprPtr first, ParseExpression(true));
          if (IsOp(",")) {
            auto tuple = MakeExpr(ExprKind::kTuple, line);
            tuple->children.push_back(std::move(first));
            while (IsOp(",")) {
              Next();
              if (IsOp(")")) break;
              ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(true));
              tuple->children.push_back(std::move(item));
            }
            first = std::move(tuple);
          }
          RETURN_IF_ERROR(ExpectOp(")"));
          return first;
        }
        if (t.text == "[") {
          Next();
          auto list = MakeExpr(ExprKind::kList, line);
          while (!IsOp("]")) {
            ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(true));
            list->children.push_back(std::move(item));
            if (!IsOp(",")) break;
            Next();
          }
          RETURN_IF_ERROR(ExpectOp("]"));
          return list;
        }
        if (t.text == "{") {
          Next();
          auto dict = MakeExpr(ExprKind::kDict, line);
          while (!IsOp("}")) {
            ASSIGN_OR_RETURN(ExprPtr key, ParseExpression(true));
            RETURN_IF_ERROR(ExpectOp(":"));
            ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
            dict->children.push_back(std::move(key));
            dict->children.push_back(std::move(value));
            if (!IsOp(",")) break;
            Next();
          }
          RETURN_IF_ERROR(ExpectOp("}"));
          return dict;
        }
        break;
      }
      default:
        break;
    }
    return Expected("an expression");
  }

  Status ParseCallArgs(Expr& call) {
    RETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(")")) {
      if (Peek().kind == TokenKind::kName && IsOp("=", 1)) {
        std::string key = Next().text;
        Next();
        ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        call.kwargs.emplace_back(std::move(key), std::move(value));
      } else {
        if (!call.kwargs.empty()) return Error("positional argument after a keyword argument");
        ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        call.children.push_back(std::move(value));
      }
      if (!IsOp(",")) break;
      Next();
    }
    return ExpectOp(")");
  }

  StatusOr<ExprPtr> ParsePostfix(ExprPtr node) {
    while (true) {
      const int line = Peek().line;
      if (IsOp(".")) {
        Next();
        const Token& t = Peek();
        if (t.kind == TokenKind::kName) {
          auto e = MakeExpr(ExprKind::kGetAttr, line);
          e->name = Next().text;
          e->children.push_back(std::move(node));
          node = std::move(e);
        } else if (t.kind == TokenKind::kInt) {
          auto e = MakeExpr(ExprKind::kGetItem, line);
          e->children.push_back(std::move(node));
          auto index = MakeExpr(ExprKind::kLiteral, line);
          index->literal = Value(Next().int_value);
          e->children.push_back(std::move(index));
          node = std::move(e);
        } else {
          return Expected("an attribute name after '.'");
        }
      } else if (IsOp("[")) {
        Next();
        ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node), line));
      } else if (IsOp("(")) {
        auto call = MakeExpr(ExprKind::kCall, line);
        call->children.push_back(std::move(node));
        RETURN_IF_ERROR(ParseCallArgs(*call));
        node = std::move(call);
      } else {
        return node;
      }
    }
  }

  StatusOr<ExprPtr> ParseSubscript(ExprPtr object, int line) {
    // After '[': index, or slice start? : stop? (: step?)?
    ExprPtr parts[3];
    int n_colons = 0;
    for (int part = 0; part < 3; ++part) {
      if (!IsOp(":") && !IsOp("]")) {
        ASSIGN_OR_RETURN(parts[part], ParseExpression(true));
      }
      if (IsOp(":") && part < 2) {
        Next();
        ++n_colons;
        continue;
      }
      break;
    }
    RETURN_IF_ERROR(ExpectOp("]"));
    if (n_colons == 0) {
      if (!parts[0]) return ErrorAtLine(line, "empty subscript '[]'");
      auto e = MakeExpr(ExprKind::kGetItem, line);
      e->children.push_back(std::move(object));
      e->children.push_back(std::move(parts[0]));
      return e;
    }
    auto e = MakeExpr(ExprKind::kSlice, line);
    e->children.push_back(std::move(object));
    for (auto& p : parts) e->children.push_back(std::move(p));
    return e;
  }

  StatusOr<ExprPtr> ParseFilterExpr(ExprPtr node) {
    while (true) {
      const int line = Peek().line;
      if (IsOp("|")) {
        Next();
        auto filter = MakeExpr(ExprKind::kFilter, line);
        ASSIGN_OR_RETURN(filter->name, ExpectName("a filter name after '|'"));
        filter->children.push_back(std::move(node));
        if (IsOp("(")) RETURN_IF_ERROR(ParseCallArgs(*filter));
        node = std::move(filter);
      } else if (IsName("is")) {
        Next();
        auto test = MakeExpr(ExprKind::kTest, line);
        if (IsName("not")) {
          Next();
          test->negated = true;
        }
        ASSIGN_OR_RETURN(test->name, ExpectName("a test name after 'is'"));
        test->children.push_back(std::move(node));
        if (IsOp("(")) {
          RETURN_IF_ERROR(ParseCallArgs(*test));
        } else {
          const Token& t = Peek();
          const bool starts_arg =
              (t.kind == TokenKind::kName && t.text != "else" && t.text != "or" && t.text != "and" &&
               t.text != "is") ||
              t.kind == TokenKind::kString || t.kind == TokenKind::kInt || t.kind == TokenKind::kFloat ||
              (t.kind == TokenKind::kOperator && (t.text == "[" || t.text == "{"));
          if (starts_arg) {
            ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
            ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
            test->children.push_back(std::move(arg));
          }
        }
        node = std::move(test);
      } else if (IsOp("(")) {
        auto call = MakeExpr(ExprKind::kCall, line);
        call->children.push_back(std::move(node));
        RETURN_IF_ERROR(ParseCallArgs(*call));
        node = std::move(call);
      } else {
        return node;
      }
    }
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

StatusOr<NodeList> Parse(std::string_view source) {
  ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(source));
  return Parser(std::move(tokens)).ParseTemplate();
}

}  // namespace chunkserve::tokenizer::jinja
