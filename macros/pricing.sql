{#-
    Pricing helpers: one model-name normalisation used everywhere, and the evaluation of the
    genai-prices match atoms (seeds/genai_prices_model_matches.csv) in SQL.
-#}

{#- A reported model name → the reference the price catalogue matches, lower case:
    - Bedrock ARNs `arn:aws:bedrock:<region>:<acct>:inference-profile/us.anthropic.claude-…`
      and `…:foundation-model/anthropic.claude-…` keep the part after the last `/` (the
      inference-profile prefix `us.` / `global.` stays: the catalogue prices regional and
      global profiles differently);
    - Vertex `publishers/google/models/gemini-2.5-pro` and
      `projects/p/locations/l/publishers/anthropic/models/claude-sonnet-4@20250514` likewise;
    - OpenAI / Anthropic ids and dated snapshots are kept (the catalogue lists snapshots).
    Azure deployment names are mapped to a model by seeds/model_deployments.csv before this. -#}
{% macro normalize_model_ref(column) -%}
    lower(trim({{ split_on_last(column, '/', 'after') }}))
{%- endmacro %}


{#- True when the regular expression `pattern` matches somewhere in `text`. -#}
{% macro regex_search(text, pattern) -%}
    {{ return(adapter.dispatch('regex_search', 'tokenledger')(text, pattern)) }}
{%- endmacro %}

{% macro default__regex_search(text, pattern) -%}
    ({{ text }} ~ {{ pattern }})
{%- endmacro %}

{% macro duckdb__regex_search(text, pattern) -%}
    regexp_matches({{ text }}, {{ pattern }})
{%- endmacro %}


{#- One genai-prices match atom (`match_op`, `match_value`) against a normalised model ref. -#}
{% macro match_atom(model_ref, match_op, match_value) -%}
    case {{ match_op }}
        when 'equals' then {{ model_ref }} = {{ match_value }}
        when 'starts_with'
            then left({{ model_ref }}, length({{ match_value }})) = {{ match_value }}
        when 'ends_with'
            then right({{ model_ref }}, length({{ match_value }})) = {{ match_value }}
        when 'contains' then strpos({{ model_ref }}, {{ match_value }}) > 0
        when 'regex' then {{ regex_search(model_ref, match_value) }}
        when 'not_regex' then not {{ regex_search(model_ref, match_value) }}
        else false
    end
{%- endmacro %}
