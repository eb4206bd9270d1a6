{#-
    Money. Amounts stay exact decimals end to end: never divide a decimal on DuckDB (it returns
    DOUBLE); multiply by an exact decimal literal instead.
-#}

{#- The money type of every cost column (exact on DuckDB and PostgreSQL). -#}
{% macro money_type() -%}
    decimal(38, 9)
{%- endmacro %}

{#- Anthropic's cost report is in cents (lowest currency unit): cents -> dollars, exactly. -#}
{% macro cents_to_dollars(column) -%}
    cast(({{ column }}) * cast(0.01 as decimal(3, 2)) as {{ money_type() }})
{%- endmacro %}
