{#- OpenAI embeddings usage: one row per raw usage row (input tokens only). -#}
{%- set raw = ('raw_openai', 'usage_embeddings') -%}

with

source as (

    {{ select_from_source(source('raw_openai', 'usage_embeddings')) }}

),

token_type_map as (

    select * from {{ ref('token_type_map') }}
    where provider = 'openai'

),

renamed as (

    select
        -- ids
        _row_key as usage_row_key,
        _billing_account_id as billing_account_id,
        {{ source_column(raw, 'project_id', 'varchar') }} as sub_account_id,
        {{ source_column(raw, 'user_id', 'varchar') }} as user_id,
        {{ source_column(raw, 'api_key_id', 'varchar') }} as api_key_id,

        -- dimensions
        {{ source_column(raw, 'model', 'varchar') }} as model,
        'input_tokens' as source_token_type,

        -- quantities
        cast(coalesce(input_tokens, 0) as bigint) as token_quantity,
        cast(num_model_requests as bigint) as num_model_requests,

        -- timestamps
        {{ unix_to_timestamp('start_time') }} as bucket_start_at,
        {{ unix_to_timestamp('end_time') }} as bucket_end_at,
        cast(_bucket_date as date) as bucket_date

    from source

),

final as (

    select
        renamed.usage_row_key,
        renamed.billing_account_id,
        renamed.sub_account_id,
        renamed.user_id,
        renamed.api_key_id,
        renamed.model,
        renamed.source_token_type,
        coalesce(token_type_map.token_type, 'unknown') as token_type,
        renamed.token_quantity,
        token_type_map.consumed_unit,
        renamed.num_model_requests,
        renamed.bucket_start_at,
        renamed.bucket_end_at,
        renamed.bucket_date
    from renamed
    left join token_type_map
        on renamed.source_token_type = token_type_map.source_token_type

)

select * from final
