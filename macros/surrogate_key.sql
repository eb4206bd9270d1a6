{#-
    A stable surrogate key from a list of column expressions: null-safe, order-sensitive,
    separator-delimited so ('ab', 'c') and ('a', 'bc') differ. Same value on every engine.
-#}
{% macro surrogate_key(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append(
            "coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '_tl_null_')"
        ) -%}
    {%- endfor -%}
    {{ hash_text(parts | join(" || '|' || ")) }}
{%- endmacro %}
