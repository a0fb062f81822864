/*
** test_config.c -- the configuration contract: validation messages, column
** precedence (exact name, then longest glob), defaults, ${VAR} expansion and
** secret redaction.  TAP output.
*/
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "tap.h"

static struct cs_config *parse(const char *text, struct cs_err *err)
{
    struct cs_config *cfg = NULL;
    memset(err, 0, sizeof(*err));
    if (cs_config_parse(text, strlen(text), "/etc/cs/test.json", &cfg, err) != 0)
        return NULL;
    return cfg;
}

static void expect_error(const char *text, const char *needle, const char *what)
{
    struct cs_err err;
    struct cs_config *cfg = parse(text, &err);
    ok(cfg == NULL && err.code == CS_ECONFIG && strstr(err.msg, needle) != NULL, "%s (%s)", what, err.msg);
    cs_config_free(cfg);
}

static void test_errors(void)
{
    expect_error("{\"source\": {\"odbc\": \"x\"}, \"tabels\": {}}", "tabels", "unknown root key named");
    expect_error("{\"source\": {\"odbc\": \"x\"}, \"tabels\": {}}", "tables", "unknown root key gets a suggestion");
    expect_error("{\"source\": {\"odbc\": 5}}", "source.odbc", "wrong type names the path");
    expect_error("{\"source\": {}}", "odbc", "missing connection string named");
    expect_error("[1, 2]", "object", "a non-object root is refused");
    expect_error("{\"source\": {\"odbc\": \"x\"", "test.json", "malformed JSON names the file");
    expect_error("{\"source\": {\"odbc\": \"x\"}, \"tables\": {\"T\": {\"columns\": {\"A\": {\"max_missing\": 2}}}}}",
                 "max_missing", "out-of-range max_missing refused");
    expect_error("{\"source\": {\"odbc\": \"x\"}, \"tables\": {\"T\": {\"columns\": {\"A\": {\"severity\": \"dire\"}}}}}",
                 "tables.T.columns.A.severity", "unknown severity names its path");
    expect_error("{\"source\": {\"odbc\": \"Database=${CS_TEST_SURELY_UNSET_VAR}\"}}", "CS_TEST_SURELY_UNSET_VAR",
                 "an unset environment variable is named");
}

static const char PRECEDENCE[] =
    "{\"source\": {\"odbc\": \"Driver=SQLite3;Database=${CONFIG_DIR}/x.db;PWD=${CS_TEST_PWD}\"},"
    " \"tables\": {\"APP\": {\"primary_key\": [\"A\", \"B\"], \"customer_key\": \"C\", \"columns\": {"
    "   \"AMT_*\": {\"outlier\": {\"method\": \"iqr\", \"threshold\": 3}},"
    "   \"AMT_REQ_*\": {\"outlier\": false},"
    "   \"AMT_REQ_X\": {\"allow_negative\": true},"
    "   \"DAYS_*\": {\"allow_negative\": true, \"sentinels\": [365243]},"
    "   \"CODE\": {\"sentinels\": [\"XNA\", \"XAP\"], \"severity\": \"low\", \"max_missing\": 0.5}}}}}";

static void test_precedence(void)
{
    struct cs_err err;
    setenv("CS_TEST_PWD", "s3cret!", 1);
    struct cs_config *cfg = parse(PRECEDENCE, &err);
    ok(cfg != NULL, "valid config parses (%s)", err.msg);
    if (cfg == NULL)
        return;
    ok(strcmp(cfg->source_odbc, "Driver=SQLite3;Database=/etc/cs/x.db;PWD=s3cret!") == 0,
       "${CONFIG_DIR} and ${VAR} are expanded: %s", cfg->source_odbc);
    char red[256];
    cs_config_redact(cfg->source_odbc, red, sizeof(red));
    ok(strstr(red, "s3cret") == NULL && strstr(red, "Database=/etc/cs/x.db") != NULL, "redaction hides PWD: %s", red);
    const struct cs_tableconf *t = cs_config_table(cfg, "app");
    ok(t != NULL && t->npk == 2 && strcmp(t->customer_key, "C") == 0, "table found ignoring case, composite pk");
    struct cs_column_policy p;
    cs_config_policy(cs_config_column(t, "AMT_CREDIT"), CS_TYPE_DOUBLE, 0, &p);
    ok(p.outlier_method == CS_OUTLIER_IQR && p.outlier_threshold == 3 && !p.allow_negative, "AMT_* glob applies");
    cs_config_policy(cs_config_column(t, "AMT_REQ_Y"), CS_TYPE_DOUBLE, 0, &p);
    ok(p.outlier_method == CS_OUTLIER_OFF, "the longer glob AMT_REQ_* wins over AMT_*");
    cs_config_policy(cs_config_column(t, "AMT_REQ_X"), CS_TYPE_DOUBLE, 0, &p);
    ok(p.allow_negative && p.outlier_method == CS_OUTLIER_ZSCORE,
       "an exact entry replaces every glob (defaults fill the rest)");
    cs_config_policy(cs_config_column(t, "DAYS_EMPLOYED"), CS_TYPE_INT64, 0, &p);
    ok(p.allow_negative && p.n_sentinels == 1 && p.sentinels[0] == 365243, "numeric sentinels");
    const struct cs_colconf *cc = cs_config_column(t, "CODE");
    cs_config_policy(cc, CS_TYPE_TEXT, 0, &p);
    ok(p.n_text_sentinels == 2 && strcmp(p.text_sentinels[1], "XAP") == 0 && cc->severity == CS_SEV_LOW &&
           cc->max_missing == 0.5,
       "text sentinels, forced severity, max_missing");
    cs_config_policy(NULL, CS_TYPE_DOUBLE, 0, &p);
    ok(p.outlier_method == CS_OUTLIER_ZSCORE && p.outlier_threshold == 3 && !p.allow_negative,
       "defaults: numeric columns get negative and z-score 3");
    cs_config_policy(NULL, CS_TYPE_INT64, 1, &p);
    ok(p.outlier_method == CS_OUTLIER_OFF, "defaults: keys get no outlier check");
    ok(strlen(cfg->hash) == 16, "config hash recorded");
    ok(cfg->native_sqlite == 1 && cfg->batch_rows > 0, "source defaults: native SQLite on, batch rows set");
    cs_config_free(cfg);
}

static void test_redact(void)
{
    char red[256];
    cs_config_redact("Driver={Snowflake};Server=a.snowflakecomputing.com;UID=x;Password={p;w};Role=R", red,
                     sizeof(red));
    ok(strstr(red, "p;w") == NULL && strstr(red, "Role=R") != NULL, "braced password values are hidden: %s", red);
    cs_config_redact("Driver=X;priv_key_file_pwd=abc;token=tokval", red, sizeof(red));
    ok(strstr(red, "abc") == NULL && strstr(red, "tokval") == NULL, "key-file passwords and tokens are hidden: %s", red);
}

int main(void)
{
    test_errors();
    test_precedence();
    test_redact();
    return tap_done();
}
