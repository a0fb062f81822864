/*
** test_pushdown_sql.c -- the SQL a pushdown run sends, per dialect, checked
** for shape without a database (cs_pushdown_explain): Snowflake's COUNT_IF,
** MEDIAN and PERCENTILE_CONT, PostgreSQL's FILTER and percentile_cont,
** SQLite's ORDER BY ... LIMIT 2 OFFSET ? and centred sum of squares,
** identifiers quoted exactly as the catalog spells them, and no user value
** (sentinels, thresholds) ever in the text: they are all placeholders.
** Duplicates take one GROUP BY statement (window totals with the sample keys).
** Sample keys of all missing, negative and outlier findings come from round C:
** one aggregate SELECT (PostgreSQL array_agg ... FILTER sliced [1:10],
** Snowflake ARRAY_SLICE(ARRAY_AGG(IFF(...)) WITHIN GROUP ...), SQLite
** json_group_array ... FILTER) plus one SELECT of LIMIT 10 subqueries without
** a FROM of its own; composite keys as arrays, outliers the farthest first.
**
** Then the native SQLite functions (sqlite_funcs.h) on an in-memory
** database: cs_stats equals stats.c's profile bit for bit over the values
** the native reader would read (integral REALs and numeric text in, other
** text, infinities and sentinels out), and cs_outliers counts and names the
** farthest offenders.
*/
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "pushdown.h"
#include "sqlite_funcs.h"
#include "stats.h"
#include "tap.h"

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* One text answer of `sql` on db (malloc'ed), NULL on error or SQL NULL. */
static char *answer(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_type(st, 0) != SQLITE_NULL)
        out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

static int same_profile(const struct cs_sqlf_stats *a, const struct cs_profile *b, int full)
{
    return a->n == b->count && a->min == b->min && a->max == b->max && a->mean == b->mean && a->sd == b->sd &&
           (!full || (a->q1 == b->q1 && a->median == b->median && a->q3 == b->q3 && a->mad == b->mad));
}

static void test_sqlite_funcs(void)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(":memory:", &db);
    ok(rc == SQLITE_OK && cs_sqlite_funcs_register(db) == SQLITE_OK, "funcs: registered on a connection");
    sqlite3_exec(db, "CREATE TABLE T (ID INTEGER, R REAL, I INTEGER)", NULL, NULL, NULL);
    /* R: values with awkward sums, numeric text, junk text, infinity, the sentinel -1, NULL.
     * I: integral REAL and integer text are values; 2.5 and '7.5' are not. */
    struct cs_stats *er = cs_stats_new(NULL, NULL, NULL), *ei = cs_stats_new(NULL, NULL, NULL);
    sqlite3_stmt *ins = NULL;
    sqlite3_prepare_v2(db, "INSERT INTO T VALUES (?, ?, ?)", -1, &ins, NULL);
    for (int k = 0; k < 200; k++) {
        double r = 1e6 + 0.1 * k + (k % 7) * 1e-3;
        sqlite3_bind_int(ins, 1, k);
        if (k % 50 == 3)
            sqlite3_bind_text(ins, 2, "12.5", -1, SQLITE_STATIC), r = 12.5;
        else if (k % 50 == 4)
            sqlite3_bind_text(ins, 2, "abc", -1, SQLITE_STATIC), r = NAN;
        else if (k % 50 == 5)
            sqlite3_bind_double(ins, 2, INFINITY), r = NAN;
        else if (k % 50 == 6)
            sqlite3_bind_double(ins, 2, -1), r = NAN;
        else if (k % 50 == 7)
            sqlite3_bind_null(ins, 2), r = NAN;
        else
            sqlite3_bind_double(ins, 2, r);
        if (!isnan(r))
            cs_stats_push(er, r, CS_KEYREF_NONE);
        double i = (double)(k * 3 % 17);
        if (k % 40 == 1)
            sqlite3_bind_double(ins, 3, 2.5), i = NAN;
        else if (k % 40 == 2)
            sqlite3_bind_text(ins, 3, "7", -1, SQLITE_STATIC), i = 7;
        else if (k % 40 == 3)
            sqlite3_bind_text(ins, 3, "7.5", -1, SQLITE_STATIC), i = NAN;
        else if (k % 40 == 4)
            sqlite3_bind_double(ins, 3, 4.0), i = 4;
        else
            sqlite3_bind_int(ins, 3, (int)i);
        if (!isnan(i))
            cs_stats_push(ei, i, CS_KEYREF_NONE);
        sqlite3_step(ins);
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    struct cs_profile pr, pi;
    cs_stats_profile(er, &pr);
    cs_stats_profile(ei, &pi);
    struct cs_sqlf_stats st;
    char *a = answer(db, "SELECT cs_stats(R, 2, 1, -1) FROM T");
    ok(a != NULL && cs_sqlf_stats_parse(a, &st) == 0 && same_profile(&st, &pr, 1),
       "funcs: cs_stats (full) equals stats.c's profile to the last bit (%s)", a ? a : "NULL");
    free(a);
    a = answer(db, "SELECT cs_stats(R, 2, 0, -1) FROM T");
    ok(a != NULL && cs_sqlf_stats_parse(a, &st) == 0 && same_profile(&st, &pr, 0) && st.q1 == 0,
       "funcs: cs_stats (moments) has the same n, min, max, mean and sd, and no quantiles");
    free(a);
    a = answer(db, "SELECT cs_stats(I, 1, 1) FROM T");
    ok(a != NULL && cs_sqlf_stats_parse(a, &st) == 0 && same_profile(&st, &pi, 1),
       "funcs: an INTEGER column takes integral REALs and integer text, as the native reader does");
    free(a);
    a = answer(db, "SELECT cs_stats(R, 2, 1) FROM T WHERE ID < 0");
    ok(a == NULL, "funcs: no usable value gives NULL");
    ok(cs_sqlf_stats_parse("3 0x1p+0 nonsense", &st) != 0, "funcs: a malformed cs_stats answer is refused");
    /* Outliers of R beyond [1e6 + 1, 1e6 + 19]: the first rows (k < 10) and the text 12.5, farthest first. */
    a = answer(db, "SELECT cs_outliers(R, 2, 1000001.0, 1000019.0, 1, -1, ID) FROM T");
    uint64_t expect = 0;
    for (int k = 0; k < 200; k++)
        if (!(k % 50 >= 4 && k % 50 <= 7)) {
            double r = k % 50 == 3 ? 12.5 : 1e6 + 0.1 * k + (k % 7) * 1e-3;
            expect += r < 1000001.0 || r > 1000019.0;
        }
    json_t *keys = a && strchr(a, '\t') ? json_loads(strchr(a, '\t') + 1, 0, NULL) : NULL;
    ok(a != NULL && strtoull(a, NULL, 10) == expect, "funcs: cs_outliers counts usable values outside (%s, want %llu)",
       a ? a : "NULL", (unsigned long long)expect);
    ok(json_array_size(keys) == 10 && json_integer_value(json_array_get(keys, 0)) == 3 &&
           json_integer_value(json_array_get(keys, 1)) == 53,
       "funcs: 10 sample keys, the farthest (numeric text 12.5) first, ties in scan order");
    json_decref(keys);
    free(a);
    a = answer(db, "SELECT cs_outliers(R, 2, -10.0, 1e9, 0, ID, I) FROM T");
    ok(a != NULL && strcmp(a, "0\t[]") == 0, "funcs: nothing outside gives 0 and no keys (%s)", a ? a : "NULL");
    free(a);
    a = answer(db, "SELECT cs_outliers(R, 2, 0.0, 1e9, 5, ID) FROM T");
    ok(a == NULL, "funcs: a sentinel count beyond the arguments is an error, not a crash");
    free(a);
    cs_stats_free(er);
    cs_stats_free(ei);
    sqlite3_close(db);
}

int main(void)
{
    static const double sent[] = {365243};
    static const char *const tsent[] = {"XNA", "N/A'x"};
    struct cs_colmeta cm[] = {{"BRANCH", CS_TYPE_TEXT}, {"ACC_NO", CS_TYPE_INT64}, {"AMT_Z", CS_TYPE_DOUBLE},
                              {"Amt_Mixed", CS_TYPE_DOUBLE}, {"AMT_M", CS_TYPE_DOUBLE}, {"STATUS", CS_TYPE_TEXT},
                              {"DAYS_X", CS_TYPE_INT64}};
    struct cs_schema schema = {.table = "Loans_2024", .ncols = 7, .cols = cm};
    struct cs_column_policy pol[7];
    struct cs_column_info info[7];
    memset(pol, 0, sizeof(pol));
    memset(info, 0, sizeof(info));
    for (int i = 0; i < 7; i++) {
        pol[i].struct_size = sizeof(pol[i]);
        pol[i].outlier_method = cm[i].type == CS_TYPE_TEXT ? CS_OUTLIER_OFF : CS_OUTLIER_ZSCORE;
        info[i] = (struct cs_column_info){.name = cm[i].name, .type = cm[i].type, .policy = &pol[i]};
    }
    info[0].is_key = info[1].is_key = 1;
    pol[3].outlier_method = CS_OUTLIER_IQR;
    pol[4].outlier_method = CS_OUTLIER_MAD;
    pol[4].outlier_threshold = 4.25;
    pol[5].n_text_sentinels = 2, pol[5].text_sentinels = tsent, pol[5].empty_is_missing = 1;
    pol[6].n_sentinels = 1, pol[6].sentinels = sent, pol[6].allow_negative = 1;
    size_t pk[] = {0, 1};
    struct cs_pd_table t = {.schema = &schema, .infos = info, .pk = pk, .npk = 2};
    struct cs_err err = {0};
    char *sql = NULL;

    t.dialect = CS_DIALECT_SNOWFLAKE;
    ok(cs_pushdown_explain(&t, &sql, &err) == 0 && sql != NULL, "snowflake: explain works (%s)", err.msg);
    if (sql != NULL) {
        ok(strstr(sql, "COUNT_IF(") != NULL, "snowflake: conditional counts are COUNT_IF");
        ok(strstr(sql, "FILTER") == NULL, "snowflake: no FILTER clause (Snowflake has none)");
        ok(strstr(sql, "MEDIAN(") != NULL, "snowflake: the MAD column's median is MEDIAN (exact)");
        ok(strstr(sql, "MEDIAN(ABS(") != NULL, "snowflake: MAD is MEDIAN(ABS(x - ?))");
        ok(strstr(sql, "PERCENTILE_CONT(0.25) WITHIN GROUP (ORDER BY ") != NULL &&
               strstr(sql, "PERCENTILE_CONT(0.75) WITHIN GROUP (ORDER BY ") != NULL,
           "snowflake: IQR quartiles are exact PERCENTILE_CONT ... WITHIN GROUP");
        ok(strstr(sql, "STDDEV_POP(") != NULL && strstr(sql, "AVG(") != NULL, "snowflake: z-score uses AVG and STDDEV_POP");
        ok(strstr(sql, "FROM \"Loans_2024\"") != NULL, "snowflake: the table is quoted as the catalog spells it");
        ok(strstr(sql, "\"Amt_Mixed\"") != NULL && strstr(sql, " Amt_Mixed") == NULL,
           "snowflake: a mixed-case column is always quoted");
        ok(strstr(sql, "CAST('NaN' AS DOUBLE)") != NULL && strstr(sql, "CAST('inf' AS DOUBLE)") != NULL,
           "snowflake: NaN and infinity are Snowflake FLOAT literals");
        ok(strstr(sql, "XNA") == NULL && strstr(sql, "N/A") == NULL && strstr(sql, "365243") == NULL &&
               strstr(sql, "4.25") == NULL,
           "snowflake: sentinels and thresholds are bound parameters, never text");
        ok(strstr(sql, "\"STATUS\" IN (?, ?)") != NULL, "snowflake: text sentinels are placeholders");
        ok(strstr(sql, "GROUP BY \"BRANCH\", \"ACC_NO\" HAVING COUNT(*) > 1") != NULL,
           "snowflake: composite-key duplicates by GROUP BY ... HAVING");
        ok(count(sql, "GROUP BY") == 1 && strstr(sql, "COUNT(*) OVER (), SUM(d.cs_dup_n) OVER ()") != NULL,
           "snowflake: one GROUP BY statement gives the duplicate totals and the sample keys");
        ok(strstr(sql, "LIMIT 10") != NULL, "snowflake: sample keys are bounded (LIMIT 10)");
        ok(count(sql, "SELECT ") >= 3, "snowflake: statistics, then counts beyond the bounds");
        ok(strstr(sql, "TO_JSON(ARRAY_SLICE(ARRAY_AGG(IFF(\"AMT_Z\" IS NULL, ARRAY_CONSTRUCT(\"BRANCH\", \"ACC_NO\"), "
                       "NULL)), 0, 10))") != NULL,
           "snowflake: missing keys by ARRAY_AGG(IFF(cond, key, NULL)), composite keys as ARRAY_CONSTRUCT, first 10 by "
           "ARRAY_SLICE");
        ok(strstr(sql, "NULL)) WITHIN GROUP (ORDER BY CASE WHEN CAST(\"AMT_Z\" AS DOUBLE) < ? THEN ? - CAST(\"AMT_Z\" AS "
                       "DOUBLE) ELSE CAST(\"AMT_Z\" AS DOUBLE) - ? END DESC, CASE WHEN CAST(\"AMT_Z\" AS DOUBLE) < ? THEN 0 "
                       "ELSE 1 END, \"BRANCH\", \"ACC_NO\"), 0, 10))") != NULL,
           "snowflake: outlier keys ordered WITHIN GROUP, the farthest first, low before high, then by key");
        ok(strstr(sql, "(SELECT TO_JSON(ARRAY_AGG(cs_k)) FROM (SELECT ARRAY_CONSTRUCT(\"BRANCH\", \"ACC_NO\") AS cs_k FROM "
                       "\"Loans_2024\" WHERE \"ACC_NO\" IS NULL LIMIT 10))") != NULL &&
               strstr(sql, "(SELECT TO_JSON(ARRAY_AGG(cs_k) WITHIN GROUP (ORDER BY cs_o DESC, cs_s)) FROM (SELECT "
                           "ARRAY_CONSTRUCT(\"BRANCH\", \"ACC_NO\") AS cs_k, CASE WHEN") != NULL,
           "snowflake: common findings take a LIMIT 10 subquery, outliers re-ordered outside it");
        ok(count(sql, ";\n") == 6 && count(sql, "LIMIT 10 ") == 0,
           "snowflake: 6 statements (round A, duplicates, MAD, outlier counts, two of sample keys)");
        free(sql);
        sql = NULL;
    }

    t.dialect = CS_DIALECT_POSTGRES;
    ok(cs_pushdown_explain(&t, &sql, &err) == 0 && sql != NULL, "postgresql: explain works");
    if (sql != NULL) {
        ok(strstr(sql, "COUNT(*) FILTER (WHERE ") != NULL && strstr(sql, "COUNT_IF") == NULL,
           "postgresql: conditional counts are COUNT(*) FILTER (WHERE ...)");
        ok(strstr(sql, "percentile_cont(0.5) WITHIN GROUP (ORDER BY ABS(") != NULL,
           "postgresql: MAD is exact: percentile_cont over |x - median|");
        ok(strstr(sql, "btrim(\"STATUS\", ?) = ''") != NULL, "postgresql: blanks by btrim with the set bound");
        ok(strstr(sql, "CAST('NaN' AS DOUBLE PRECISION)") != NULL, "postgresql: NaN literal");
        ok(strstr(sql, "array_to_json((array_agg(json_build_array(\"BRANCH\", \"ACC_NO\")) FILTER (WHERE \"AMT_Z\" IS "
                       "NULL))[1:10])") != NULL,
           "postgresql: missing keys by array_agg ... FILTER sliced [1:10], composite keys as json_build_array");
        ok(strstr(sql, "array_agg(json_build_array(\"BRANCH\", \"ACC_NO\") ORDER BY CASE WHEN CAST(\"AMT_Z\" AS DOUBLE "
                       "PRECISION) < ? THEN ? - CAST(\"AMT_Z\" AS DOUBLE PRECISION) ELSE CAST(\"AMT_Z\" AS DOUBLE PRECISION) - "
                       "? END DESC, CASE WHEN CAST(\"AMT_Z\" AS DOUBLE PRECISION) < ? THEN 0 ELSE 1 END, \"BRANCH\", "
                       "\"ACC_NO\") FILTER (WHERE ") != NULL,
           "postgresql: outlier keys by an ordered array_agg, the farthest first");
        ok(strstr(sql, "array_to_json(ARRAY(SELECT json_build_array(\"BRANCH\", \"ACC_NO\") FROM \"Loans_2024\" WHERE "
                       "\"ACC_NO\" IS NULL LIMIT 10))") != NULL &&
               strstr(sql, " END DESC, CASE WHEN CAST(\"Amt_Mixed\" AS DOUBLE PRECISION) < ? THEN 0 ELSE 1 END, "
                           "\"BRANCH\", \"ACC_NO\" LIMIT 10))") != NULL,
           "postgresql: common findings and many outliers take ARRAY(SELECT ... LIMIT 10)");
        ok(count(sql, ";\n") == 6 && strstr(sql, "LIMIT 10));\n") != NULL,
           "postgresql: 6 statements; the subqueries' SELECT reads no table itself");
        free(sql);
        sql = NULL;
        t.npk = 1;
        ok(cs_pushdown_explain(&t, &sql, &err) == 0 && sql != NULL &&
               strstr(sql, "array_to_json((array_agg(\"BRANCH\") FILTER (WHERE \"AMT_Z\" IS NULL))[1:10])") != NULL,
           "postgresql: a single key is aggregated as it is");
        free(sql);
        sql = NULL;
        t.npk = 0;
        ok(cs_pushdown_explain(&t, &sql, &err) == 0 && sql != NULL && strstr(sql, "array_agg") == NULL &&
               strstr(sql, "LIMIT 10") == NULL,
           "postgresql: no primary key, no sample-key statement");
        free(sql);
        sql = NULL;
        t.npk = 2;
    }

    t.dialect = CS_DIALECT_SQLITE;
    ok(cs_pushdown_explain(&t, &sql, &err) == 0 && sql != NULL, "sqlite: explain works");
    if (sql != NULL) {
        ok(strstr(sql, "percentile") == NULL && strstr(sql, "STDDEV") == NULL,
           "sqlite: no percentile or stddev functions (SQLite has none)");
        ok(strstr(sql, "ORDER BY v LIMIT 2 OFFSET ?") != NULL, "sqlite: quantiles by ORDER BY ... LIMIT 2 OFFSET ?");
        ok(strstr(sql, "SUM((CASE WHEN") != NULL, "sqlite: sd from the centred sum of squares (mean bound)");
        ok(strstr(sql, "typeof(\"ACC_NO\") NOT IN ('integer', 'null')") != NULL,
           "sqlite: a guard for values of the wrong storage class");
        ok(strstr(sql, "NaN") == NULL, "sqlite: no NaN test (SQLite stores NaN as NULL)");
        ok(strstr(sql, "json_group_array(json_array(\"BRANCH\", \"ACC_NO\")) FILTER (WHERE \"AMT_Z\" IS NULL)") != NULL,
           "sqlite: missing keys by json_group_array ... FILTER");
        ok(strstr(sql, "(SELECT json_group_array(json(cs_k)) FROM (SELECT json_array(\"BRANCH\", \"ACC_NO\") AS cs_k FROM "
                       "\"Loans_2024\" WHERE (((\"AMT_Z\" > -9e999") != NULL &&
               strstr(sql, "json_group_array(json_array(\"BRANCH\", \"ACC_NO\") ORDER BY") == NULL,
           "sqlite: outlier keys by an ordered LIMIT 10 subquery (no ORDER BY inside aggregates before 3.44)");
        free(sql);
    }
    test_sqlite_funcs();
    return tap_done();
}
