/*
** pushdown_rules.c -- SQL predicates of Lua row rules (pushdown_rules.h,
** and cs_rule_sql_check in rules.h).
**
** The grammar, one boolean expression (no statements, ';' or comments):
**
**   expr    := and {OR and}             and  := not {AND not}
**   not     := NOT not | pred
**   pred    := sum [cmp sum | IS [NOT] NULL | [NOT] BETWEEN sum AND sum
**                   | [NOT] IN (expr {, expr})]
**   sum     := prod {(+|-) prod}        prod := unary {(*|/) unary}
**   unary   := (-|+) unary | primary
**   primary := number | 'text' | column | "column" | NULL | TRUE | FALSE
**            | (expr) | ABS(expr) | COALESCE(expr {, expr})
**            | CASE [expr] WHEN expr THEN expr {...} [ELSE expr] END
**   cmp     := = | <> | != | < | <= | > | >=
**
** Written out per dialect so that it means what the Lua function means:
**   - a column is the catalog's spelling, quoted; a double column is
**     NULLIF(x, NaN) where the database keeps NaN (PostgreSQL, Snowflake),
**     because NaN sorts above every number there while Lua's comparisons
**     with NaN are false;
**   - a / b is a * 1.0 / NULLIF(b, 0): Lua's / always divides as floats
**     (SQL truncates integers), and a division by zero must not abort the
**     whole aggregate statement (it is NULL: the row is not reported);
**   - every number and string of the predicate is a bound parameter
**     (numbers as CAST(? AS BIGINT / DOUBLE): some drivers send untyped
**     literals, and PostgreSQL cannot resolve `- ?` on those).
** The parser keeps a depth limit, so a hostile file cannot exhaust the stack.
*/
#include "pushdown_rules.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "log.h"
#include "rules.h"

#define MAX_SQL 4000
#define MAX_DEPTH 48
#define PD_SAMPLES 10

/* ---- tokens ---------------------------------------------------------------- */

enum tkind { T_END, T_NUM, T_STR, T_WORD, T_QWORD, T_OP, T_LP, T_RP, T_COMMA };

struct token {
    enum tkind kind;
    const char *s; /* where it starts in the source */
    size_t len;
    int is_int;
    long long i64;
    double f64;
};

/* One parse, in check mode (out NULL) or compile mode. */
struct parser {
    const char *src, *pos;
    const struct cs_rule_table *t;
    struct token tk;
    int depth;
    char *msg;
    size_t size;
    /* compile mode */
    struct pd_sql *out;
    enum cs_dialect d;
    const char *const *names; /* per declared column: the catalog's spelling */
    const int *types;         /* per declared column: enum cs_type */
    char ***texts;            /* string literals (owned by the caller: parameters borrow them) */
    size_t *ntexts;
};

static const char *const KEYWORDS[] = {"AND",  "OR",   "NOT",  "IS",   "NULL", "IN",    "BETWEEN", "CASE",
                                       "WHEN", "THEN", "ELSE", "END",  "TRUE", "FALSE", "ABS",     "COALESCE", NULL};
static const char *const STATEMENT_WORDS[] = {
    "SELECT", "INSERT", "UPDATE", "DELETE", "DROP",  "CREATE",   "ALTER",   "ATTACH", "DETACH",   "PRAGMA",
    "WITH",   "UNION",  "EXEC",   "EXECUTE", "CALL", "GRANT",    "REVOKE",  "COPY",   "FROM",     "INTO",
    "TRUNCATE", "MERGE", "BEGIN", "COMMIT", "ROLLBACK", "VACUUM", "REPLACE", "SET",   "LOAD",     NULL};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *p, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(p->msg, p->size, "sql: %s at character %d", what, (int)(p->tk.s - p->src) + 1);
    return -1;
}

static int word_is(const struct token *tk, const char *w)
{
    return tk->kind == T_WORD && strlen(w) == tk->len && strncasecmp(tk->s, w, tk->len) == 0;
}

static int in_list(const struct token *tk, const char *const *list)
{
    for (; *list != NULL; list++)
        if (word_is(tk, *list))
            return 1;
    return 0;
}

static int lex_number(struct parser *p, const char *s)
{
    const char *e = s;
    int is_int = 1;
    while (isdigit((unsigned char)*e))
        e++;
    if (*e == '.') {
        is_int = 0;
        for (e++; isdigit((unsigned char)*e); e++)
            ;
    }
    if (*e == 'e' || *e == 'E') {
        const char *x = e + 1;
        if (*x == '+' || *x == '-')
            x++;
        if (isdigit((unsigned char)*x)) {
            is_int = 0;
            for (e = x; isdigit((unsigned char)*e); e++)
                ;
        }
    }
    if (e == s || (e == s + 1 && *s == '.'))
        return fail(p, "'.' is not a number");
    char buf[64];
    if ((size_t)(e - s) >= sizeof(buf))
        return fail(p, "a number with more than %d characters", (int)sizeof(buf) - 1);
    memcpy(buf, s, (size_t)(e - s));
    buf[e - s] = '\0';
    errno = 0;
    p->tk.i64 = is_int ? strtoll(buf, NULL, 10) : 0;
    if (is_int && errno == ERANGE)
        is_int = 0; /* too large for an integer: a float, as in Lua */
    p->tk.is_int = is_int;
    p->tk.f64 = strtod(buf, NULL);
    p->tk.kind = T_NUM;
    p->tk.len = (size_t)(e - s);
    if (isalpha((unsigned char)*e) || *e == '_')
        return fail(p, "a number runs into a word");
    return 0;
}

/* Read the next token into p->tk; -1 with a message on a character the grammar has no use for. */
static int next(struct parser *p)
{
    const char *s = p->pos;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    struct token *tk = &p->tk;
    memset(tk, 0, sizeof(*tk));
    tk->s = s;
    if (*s == '\0') {
        tk->kind = T_END;
    } else if ((s[0] == '-' && s[1] == '-') || (s[0] == '/' && s[1] == '*')) {
        return fail(p, "comments are not allowed");
    } else if (*s == ';') {
        return fail(p, "';' is not allowed: give one condition, not statements");
    } else if (isdigit((unsigned char)*s) || (*s == '.' && isdigit((unsigned char)s[1]))) {
        if (lex_number(p, s) != 0)
            return -1;
    } else if (*s == '\'' || *s == '"') {
        const char *e = s + 1;
        for (;; e++) {
            if (*e == '\0')
                return fail(p, "a %s that is never closed", *s == '\'' ? "'text'" : "\"column\"");
            if (*e == *s && e[1] == *s && *s == '\'')
                e++; /* '' inside text */
            else if (*e == *s)
                break;
        }
        tk->kind = *s == '\'' ? T_STR : T_QWORD;
        tk->len = (size_t)(e + 1 - s);
    } else if (isalpha((unsigned char)*s) || *s == '_') {
        const char *e = s;
        while (isalnum((unsigned char)*e) || *e == '_')
            e++;
        tk->kind = T_WORD;
        tk->len = (size_t)(e - s);
    } else if (*s == '(' || *s == ')' || *s == ',') {
        tk->kind = *s == '(' ? T_LP : *s == ')' ? T_RP : T_COMMA;
        tk->len = 1;
    } else if ((s[0] == '<' && (s[1] == '=' || s[1] == '>')) || (s[0] == '>' && s[1] == '=') ||
               (s[0] == '!' && s[1] == '=')) {
        tk->kind = T_OP;
        tk->len = 2;
    } else if (strchr("=<>+-*/", *s) != NULL) {
        tk->kind = T_OP;
        tk->len = 1;
    } else {
        return fail(p, "'%c' is not allowed", isprint((unsigned char)*s) ? *s : '?');
    }
    p->pos = s + tk->len;
    return 0;
}

static int op_is(const struct token *tk, const char *op)
{
    return tk->kind == T_OP && strlen(op) == tk->len && strncmp(tk->s, op, tk->len) == 0;
}

/* ---- output (compile mode only) --------------------------------------------- */

static void emit(struct parser *p, const char *text)
{
    if (p->out != NULL)
        pd_add(p->out, text);
}

/* A number as a typed parameter: CAST(? AS BIGINT / DOUBLE).  Some drivers (psqlODBC) send parameters
 * as untyped literals, and PostgreSQL cannot choose an operator for `- ?` or `? * ?` on those. */
static void emit_number(struct parser *p, int is_int, long long i64, double f64)
{
    if (p->out == NULL)
        return;
    pd_add(p->out, "CAST(");
    if (is_int)
        pd_param_i64(p->out, i64);
    else
        pd_param_f64(p->out, f64);
    pd_add(p->out, is_int ? " AS BIGINT)" : " AS ");
    if (!is_int) {
        pd_add(p->out, cs_dialect_type(p->d, CS_SQLT_DOUBLE));
        pd_add(p->out, ")");
    }
}

static int emit_text_param(struct parser *p)
{
    if (p->out == NULL)
        return 0;
    char *v = malloc(p->tk.len), *o = v; /* the text between the quotes, '' read as ' */
    char **texts = realloc(*p->texts, (*p->ntexts + 1) * sizeof(char *));
    if (v == NULL || texts == NULL) {
        free(v);
        if (texts != NULL)
            *p->texts = texts;
        p->out->oom = 1;
        return 0;
    }
    *p->texts = texts;
    for (const char *c = p->tk.s + 1; c < p->tk.s + p->tk.len - 1; c++) {
        *o++ = *c;
        if (*c == '\'')
            c++;
    }
    *o = '\0';
    texts[(*p->ntexts)++] = v;
    pd_param_text(p->out, v);
    return 0;
}

/* The declared column the token names (bare: ignoring case; quoted: exactly, then ignoring case), or -1. */
static ssize_t column_of(const struct parser *p, const struct token *tk)
{
    const char *s = tk->kind == T_QWORD ? tk->s + 1 : tk->s;
    size_t len = tk->kind == T_QWORD ? tk->len - 2 : tk->len;
    for (int exact = tk->kind == T_QWORD; exact >= 0; exact--)
        for (size_t k = 0; k < p->t->ncols; k++)
            if (strlen(p->t->cols[k]) == len &&
                (exact ? strncmp(p->t->cols[k], s, len) : strncasecmp(p->t->cols[k], s, len)) == 0)
                return (ssize_t)k;
    return -1;
}

static void emit_column(struct parser *p, size_t k)
{
    if (p->out == NULL)
        return;
    int nan = p->types[k] == CS_TYPE_DOUBLE && pd_nan(p->d) != NULL;
    if (nan)
        pd_add(p->out, "NULLIF(");
    pd_ident(p->out, p->d, p->names[k]);
    if (nan) {
        pd_add(p->out, ", ");
        pd_add(p->out, pd_nan(p->d));
        pd_add(p->out, ")");
    }
}

/* ---- the grammar ------------------------------------------------------------- */

static int expr(struct parser *p);

static int expect(struct parser *p, enum tkind kind, const char *what)
{
    if (p->tk.kind != kind)
        return fail(p, "%s expected", what);
    return next(p);
}

/* expr {, expr} ")" -- the "(" is already read */
static int list_tail(struct parser *p)
{
    for (;;) {
        if (expr(p) != 0)
            return -1;
        if (p->tk.kind == T_RP)
            break;
        if (p->tk.kind != T_COMMA)
            return fail(p, "',' or ')' expected");
        emit(p, ", ");
        if (next(p) != 0)
            return -1;
    }
    emit(p, ")");
    return next(p);
}

static int case_expr(struct parser *p)
{
    emit(p, "(CASE ");
    if (next(p) != 0 || (!word_is(&p->tk, "WHEN") && expr(p) != 0))
        return -1;
    if (!word_is(&p->tk, "WHEN"))
        return fail(p, "CASE needs WHEN");
    while (word_is(&p->tk, "WHEN")) {
        emit(p, " WHEN ");
        if (next(p) != 0 || expr(p) != 0)
            return -1;
        if (!word_is(&p->tk, "THEN"))
            return fail(p, "THEN expected");
        emit(p, " THEN ");
        if (next(p) != 0 || expr(p) != 0)
            return -1;
    }
    if (word_is(&p->tk, "ELSE")) {
        emit(p, " ELSE ");
        if (next(p) != 0 || expr(p) != 0)
            return -1;
    }
    if (!word_is(&p->tk, "END"))
        return fail(p, "END expected");
    emit(p, " END)");
    return next(p);
}

static int primary(struct parser *p)
{
    struct token tk = p->tk;
    switch (tk.kind) {
    case T_NUM:
        emit_number(p, tk.is_int, tk.i64, tk.f64);
        return next(p);
    case T_STR:
        emit_text_param(p);
        return next(p);
    case T_LP:
        emit(p, "(");
        if (next(p) != 0 || expr(p) != 0)
            return -1;
        emit(p, ")");
        return expect(p, T_RP, "')'");
    case T_QWORD:
    case T_WORD: {
        if (word_is(&tk, "NULL") || word_is(&tk, "TRUE") || word_is(&tk, "FALSE")) {
            emit(p, word_is(&tk, "NULL") ? "NULL" : word_is(&tk, "TRUE") ? "TRUE" : "FALSE");
            return next(p);
        }
        if (word_is(&tk, "CASE"))
            return case_expr(p);
        if (word_is(&tk, "ABS") || word_is(&tk, "COALESCE")) {
            emit(p, word_is(&tk, "ABS") ? "ABS(" : "COALESCE(");
            if (next(p) != 0 || expect(p, T_LP, "'(' after the function name") != 0)
                return -1;
            if (word_is(&tk, "ABS")) {
                if (expr(p) != 0)
                    return -1;
                emit(p, ")");
                return expect(p, T_RP, "')' (ABS takes one argument)");
            }
            return list_tail(p);
        }
        ssize_t k = tk.kind == T_WORD && in_list(&tk, KEYWORDS) ? -1 : column_of(p, &tk);
        if (k >= 0) {
            emit_column(p, (size_t)k);
            return next(p);
        }
        if (tk.kind == T_WORD && in_list(&tk, STATEMENT_WORDS))
            return fail(p, "statements are not allowed (%.*s): give only a condition, such as A > B", (int)tk.len,
                        tk.s);
        if (tk.kind == T_WORD && in_list(&tk, KEYWORDS))
            return fail(p, "%.*s is out of place", (int)tk.len, tk.s);
        return fail(p, "%.*s is not one of the rule's columns (%s%s) nor an allowed word (AND OR NOT IS NULL IN "
                       "BETWEEN CASE WHEN THEN ELSE END TRUE FALSE ABS COALESCE)",
                    (int)tk.len, tk.s, p->t->cols[0], p->t->ncols > 1 ? ", ..." : "");
    }
    case T_END: return fail(p, "the condition ends too early");
    default: return fail(p, "'%.*s' is out of place", (int)tk.len, tk.s);
    }
}

static int deeper(struct parser *p)
{
    if (++p->depth > MAX_DEPTH)
        return fail(p, "nested more than %d levels deep", MAX_DEPTH);
    return 0;
}

static int unary(struct parser *p)
{
    if (deeper(p) != 0)
        return -1;
    int rc;
    if (op_is(&p->tk, "-") || op_is(&p->tk, "+")) {
        emit(p, op_is(&p->tk, "-") ? "-" : "+");
        rc = next(p) != 0 ? -1 : unary(p);
    } else {
        rc = primary(p);
    }
    p->depth--;
    return rc;
}

static int prod(struct parser *p)
{
    if (unary(p) != 0)
        return -1;
    while (op_is(&p->tk, "*") || op_is(&p->tk, "/")) {
        int div = op_is(&p->tk, "/");
        emit(p, " * ");
        if (div) { /* a * 1.0 / NULLIF(b, 0): Lua divides as floats, and x / 0 is no error */
            emit_number(p, 0, 0, 1.0);
            emit(p, " / NULLIF(");
        }
        if (next(p) != 0 || unary(p) != 0)
            return -1;
        if (div)
            emit(p, ", 0)");
    }
    return 0;
}

static int sum(struct parser *p)
{
    if (prod(p) != 0)
        return -1;
    while (op_is(&p->tk, "+") || op_is(&p->tk, "-")) {
        emit(p, op_is(&p->tk, "+") ? " + " : " - ");
        if (next(p) != 0 || prod(p) != 0)
            return -1;
    }
    return 0;
}

static int pred(struct parser *p)
{
    if (sum(p) != 0)
        return -1;
    static const char *const CMP[] = {"=", "<>", "!=", "<", "<=", ">", ">=", NULL};
    for (const char *const *c = CMP; *c != NULL; c++)
        if (op_is(&p->tk, *c)) {
            emit(p, " ");
            emit(p, strcmp(*c, "!=") == 0 ? "<>" : *c);
            emit(p, " ");
            return next(p) != 0 ? -1 : sum(p);
        }
    if (word_is(&p->tk, "IS")) {
        if (next(p) != 0)
            return -1;
        int not = word_is(&p->tk, "NOT");
        if (not && next(p) != 0)
            return -1;
        if (!word_is(&p->tk, "NULL"))
            return fail(p, "IS %sNULL expected", not ? "NOT " : "");
        emit(p, not ? " IS NOT NULL" : " IS NULL");
        return next(p);
    }
    int not = word_is(&p->tk, "NOT");
    if (not && next(p) != 0)
        return -1;
    if (word_is(&p->tk, "BETWEEN")) {
        emit(p, not ? " NOT BETWEEN " : " BETWEEN ");
        if (next(p) != 0 || sum(p) != 0)
            return -1;
        if (!word_is(&p->tk, "AND"))
            return fail(p, "BETWEEN needs AND");
        emit(p, " AND ");
        return next(p) != 0 ? -1 : sum(p);
    }
    if (word_is(&p->tk, "IN")) {
        emit(p, not ? " NOT IN (" : " IN (");
        if (next(p) != 0 || expect(p, T_LP, "'(' after IN") != 0)
            return -1;
        return list_tail(p);
    }
    if (not)
        return fail(p, "NOT must be followed by BETWEEN or IN here");
    return 0;
}

static int not_expr(struct parser *p)
{
    if (deeper(p) != 0)
        return -1;
    int rc;
    if (word_is(&p->tk, "NOT")) {
        emit(p, "NOT ");
        rc = next(p) != 0 ? -1 : not_expr(p);
    } else {
        rc = pred(p);
    }
    p->depth--;
    return rc;
}

static int and_expr(struct parser *p)
{
    if (not_expr(p) != 0)
        return -1;
    while (word_is(&p->tk, "AND")) {
        emit(p, " AND ");
        if (next(p) != 0 || not_expr(p) != 0)
            return -1;
    }
    return 0;
}

static int expr(struct parser *p)
{
    if (deeper(p) != 0)
        return -1;
    int rc = and_expr(p);
    while (rc == 0 && word_is(&p->tk, "OR")) {
        emit(p, " OR ");
        rc = next(p) != 0 ? -1 : and_expr(p);
    }
    p->depth--;
    return rc;
}

static int parse(struct parser *p)
{
    if (strlen(p->src) > MAX_SQL)
        return snprintf(p->msg, p->size, "sql: longer than %d bytes", MAX_SQL), -1;
    p->pos = p->src;
    p->tk.s = p->src;
    if (next(p) != 0)
        return -1;
    if (p->tk.kind == T_END)
        return snprintf(p->msg, p->size, "sql: empty; give a condition such as AMT_ANNUITY > AMT_CREDIT"), -1;
    if (expr(p) != 0)
        return -1;
    if (p->tk.kind != T_END)
        return fail(p, "'%.*s' is out of place (one condition only)", (int)p->tk.len, p->tk.s);
    return 0;
}

int cs_rule_sql_check(const char *sql, const struct cs_rule_table *t, char *msg, size_t size)
{
    struct parser p = {.src = sql, .t = t, .msg = msg, .size = size};
    return parse(&p);
}

/* ---- the predicates of one table run ------------------------------------------ */

struct pd_rule {
    size_t pass_index;
    const struct cs_rule_meta *m;
    const struct cs_rule_table *rt;
    const size_t *idx; /* schema index of each declared column */
    struct pd_sql cond;
    char **texts; /* the string literals cond's parameters point at */
    size_t ntexts;
    int refused;
};

struct pd_rules {
    const struct cs_pd_table *t;
    struct pd_rule *v;
    size_t n;
};

static void rule_clear(struct pd_rule *r)
{
    pd_free(&r->cond);
    for (size_t i = 0; i < r->ntexts; i++)
        free(r->texts[i]);
    free(r->texts);
}

void pd_rules_free(struct pd_rules *rs)
{
    if (rs == NULL)
        return;
    for (size_t i = 0; i < rs->n; i++)
        rule_clear(&rs->v[i]);
    free(rs->v);
    free(rs);
}

/* Compile one rule's predicate for the table; -1 with msg when it does not, CS_ENOMEM. */
static int compile(const struct cs_pd_table *t, struct pd_rule *r, char *msg, size_t size)
{
    size_t n = r->rt->ncols;
    const char **names = calloc(n + 1, sizeof(char *));
    int *types = calloc(n + 1, sizeof(int));
    int rc = names && types ? 0 : CS_ENOMEM;
    for (size_t k = 0; rc == 0 && k < n; k++) {
        names[k] = t->schema->cols[r->idx[k]].name;
        types[k] = t->schema->cols[r->idx[k]].type;
    }
    struct parser p = {.src = r->m->sql, .t = r->rt, .msg = msg, .size = size, .out = &r->cond, .d = t->dialect,
                       .names = names, .types = types, .texts = &r->texts, .ntexts = &r->ntexts};
    if (rc == 0 && parse(&p) != 0)
        rc = -1;
    if (rc == 0 && r->cond.oom)
        rc = CS_ENOMEM;
    free(names);
    free(types);
    return rc;
}

int pd_rules_new(const struct cs_pd_table *t, struct pd_rules **out, struct cs_err *err)
{
    size_t total = cs_rules_pass_size(t->rules);
    struct pd_rules *rs = NULL;
    *out = NULL;
    for (size_t i = 0; i < total; i++) {
        const struct cs_rule_table *rt;
        const size_t *idx;
        const struct cs_rule_meta *m = cs_rules_pass_rule(t->rules, i, &rt, &idx);
        if (m == NULL || m->sql == NULL || m->kind != CS_RULE_ROW)
            continue;
        if (rs == NULL && ((rs = calloc(1, sizeof(*rs))) == NULL || (rs->v = calloc(total, sizeof(*rs->v))) == NULL))
            goto oom;
        rs->t = t;
        struct pd_rule *r = &rs->v[rs->n];
        *r = (struct pd_rule){.pass_index = i, .m = m, .rt = rt, .idx = idx};
        char msg[CS_ERR_MSG];
        int rc = compile(t, r, msg, sizeof(msg));
        if (rc == CS_ENOMEM) {
            rule_clear(r);
            goto oom;
        }
        if (rc != 0) { /* checked when the file loaded, so only a changed table gets here */
            rule_clear(r);
            cs_rules_pass_stop(t->rules, i, msg);
            continue;
        }
        rs->n++;
    }
    *out = rs;
    return 0;
oom:
    pd_rules_free(rs);
    return cs_err_set(err, CS_ENOMEM, "out of memory compiling rule predicates");
}

size_t pd_rules_count(const struct pd_rules *rs)
{
    return rs != NULL ? rs->n : 0;
}

void pd_rules_cond(const struct pd_rules *rs, size_t k, struct pd_sql *q)
{
    pd_add(q, "(");
    pd_cat(q, &rs->v[k].cond);
    pd_add(q, ")");
}

void pd_rules_refused(struct pd_rules *rs, size_t k, const char *why)
{
    const struct pd_rule *r = &rs->v[k];
    rs->v[k].refused = 1;
    cs_log(CS_LOG_WARNING, "pushdown",
           "table %s: rule %s (%s:%d): the database refuses its sql predicate, so the rule reads the rows: %s",
           rs->t->schema->table, r->m->name, r->m->file, r->m->line, why);
}

int pd_rules_is_refused(const struct pd_rules *rs, size_t k)
{
    return rs->v[k].refused;
}

/* The value of a column as the sample query selects it: text columns behind a one-letter prefix, so
 * that no driver reads "007" as the number 7 (the rule's function must see the text). */
static void sample_column(const struct pd_rules *rs, struct pd_sql *q, size_t col)
{
    const struct cs_colmeta *c = &rs->t->schema->cols[col];
    if (c->type == CS_TYPE_TEXT)
        pd_add(q, "'s' || ");
    pd_ident(q, rs->t->dialect, c->name);
}

void pd_rules_sample_sql(const struct pd_rules *rs, size_t k, struct pd_sql *q)
{
    const struct pd_rule *r = &rs->v[k];
    const struct cs_pd_table *t = rs->t;
    pd_add(q, "SELECT ");
    for (size_t i = 0; i < t->npk; i++) {
        sample_column(rs, q, t->pk[i]);
        pd_add(q, ", ");
    }
    for (size_t i = 0; i < r->rt->ncols; i++) {
        sample_column(rs, q, r->idx[i]);
        pd_add(q, i + 1 < r->rt->ncols ? ", " : "");
    }
    q->ncols = t->npk + r->rt->ncols;
    pd_add(q, " FROM ");
    pd_ident(q, t->dialect, t->schema->table);
    pd_add(q, " WHERE ");
    pd_rules_cond(rs, k, q);
    pd_addf(q, " LIMIT %d", PD_SAMPLES);
}

/* ---- answers -------------------------------------------------------------------- */

/* Column storage of a batch built from a query result (at most PD_SAMPLES rows). */
struct qcol {
    uint8_t nulls[PD_SAMPLES];
    int64_t i64[PD_SAMPLES];
    double f64[PD_SAMPLES];
    const char *text[PD_SAMPLES];
    uint32_t text_len[PD_SAMPLES];
};

/* Result cell v into row `row` of column c (schema type `type`), as the streaming readers would deliver it. */
static void fill_cell(struct qcol *c, size_t row, int type, const struct cs_qval *v)
{
    c->nulls[row] = CS_CELL_NULL;
    if (v->type == 0)
        return;
    c->nulls[row] = CS_CELL_INVALID;
    if (type == CS_TYPE_TEXT && v->type == CS_TYPE_TEXT && v->text != NULL && v->text[0] == 's') {
        c->text[row] = v->text + 1;
        c->text_len[row] = (uint32_t)strlen(v->text + 1);
        c->nulls[row] = CS_CELL_VALUE;
    } else if (type == CS_TYPE_DOUBLE && (v->type == CS_TYPE_DOUBLE || v->type == CS_TYPE_INT64)) {
        c->f64[row] = v->type == CS_TYPE_INT64 ? (double)v->i64 : v->f64;
        c->nulls[row] = CS_CELL_VALUE;
    } else if (type == CS_TYPE_INT64 && v->type == CS_TYPE_INT64) {
        c->i64[row] = v->i64;
        c->nulls[row] = CS_CELL_VALUE;
    } else if (type == CS_TYPE_INT64 && v->type == CS_TYPE_DOUBLE && v->f64 == (double)(int64_t)v->f64) {
        c->i64[row] = (int64_t)v->f64;
        c->nulls[row] = CS_CELL_VALUE;
    }
}

int pd_rules_deliver(struct pd_rules *rs, size_t k, uint64_t count, const struct cs_qresult *res,
                     struct cs_err *err)
{
    const struct pd_rule *r = &rs->v[k];
    const struct cs_pd_table *t = rs->t;
    size_t ncols = t->schema->ncols, nsel = t->npk + r->rt->ncols;
    if (res == NULL || res->nrows == 0 || res->ncols < nsel)
        return cs_rules_pass_answer(t->rules, r->pass_index, count, NULL, t->npk > 0) == 0
                   ? 0
                   : cs_err_set(err, CS_ENOMEM, "out of memory");
    struct cs_column *cols = calloc(ncols + 1, sizeof(*cols));
    struct qcol *store = calloc(nsel, sizeof(*store));
    int rc = cols && store ? 0 : CS_ENOMEM;
    size_t nrows = res->nrows < PD_SAMPLES ? res->nrows : PD_SAMPLES;
    for (size_t s = 0; rc == 0 && s < nsel; s++) {
        size_t col = s < t->npk ? t->pk[s] : r->idx[s - t->npk];
        const struct cs_colmeta *meta = &t->schema->cols[col];
        for (size_t row = 0; row < nrows; row++)
            fill_cell(&store[s], row, meta->type, &res->v[row * res->ncols + s]);
        cols[col] = (struct cs_column){.name = meta->name, .type = meta->type, .nulls = store[s].nulls,
                                       .i64 = store[s].i64, .f64 = store[s].f64, .text = store[s].text,
                                       .text_len = store[s].text_len};
    }
    struct cs_batch b = {.nrows = nrows, .ncols = ncols, .cols = cols};
    if (rc == 0)
        rc = cs_rules_pass_answer(t->rules, r->pass_index, count, &b, t->npk > 0);
    free(cols);
    free(store);
    return rc == 0 ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
}
