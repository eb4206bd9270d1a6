{%- set raw = ('raw_openai', 'costs') -%}

with

source as (

    {{ select_from_source(source('raw_openai', 'costs')) }}

),

token_type_map as (

    select * from {{ ref('token_type_map') }}
    where provider = 'openai'

),

renamed as (

    select
        -- ids
        _row_key as cost_row_key,
        _billing_account_id as billing_account_id,
        {{ source_column(raw, 'project_id', 'varchar') }} as sub_account_id,
        {{ source_column(raw, 'api_key_id', 'varchar') }} as api_key_id,

        -- dimensions
        {{ source_column(raw, 'line_item', 'varchar') }} as line_item,
        cast(amount__value as varchar) as amount_text,
        amount__currency as currency_text,
        {{ source_column(raw, 'quantity_unit', 'varchar') }} as quantity_unit,
        {{ safe_cast_decimal(source_column(raw, 'quantity', 'varchar')) }} as quantity,

        -- money
        {{ safe_cast_decimal('amount__value') }} as billed_cost,

        -- timestamps
        cast(start_time as varchar) as bucket_start_text,
        {{ unix_to_timestamp('start_time') }} as bucket_start_at,
        {{ unix_to_timestamp('end_time') }} as bucket_end_at,
        cast(_bucket_date as date) as bucket_date

    from source

),

split as (

    select
        *,
        {{ split_on_last('line_item', ', ', 'before') }} as model,
        {{ split_on_last('line_item', ', ', 'after') }} as source_token_type
    from renamed

),

final as (

    select
        split.cost_row_key,
        split.billing_account_id,
        split.sub_account_id,
        split.api_key_id,
        split.line_item,
        split.model,
        split.source_token_type,
        -- a label the seed does not know stays visible as `unknown`, its cost kept
        coalesce(token_type_map.token_type, 'unknown') as token_type,
        token_type_map.consumed_unit,
        upper(trim(split.currency_text)) as billing_currency,
        split.currency_text,
        split.amount_text,
        -- usage quantity normalised to the consumed unit of its token type: tokens (not
        -- thousands), seconds (not minutes or hours), GiB-days (not GiB-hours)
        cast(
            case
                when split.quantity_unit = '1000_tokens' then split.quantity * 1000
                when split.quantity_unit = 'duration_minutes' then split.quantity * 60
                when split.quantity_unit = 'duration_hours'
                    and token_type_map.consumed_unit = 'Seconds'
                    then split.quantity * 3600
                when split.quantity_unit = 'duration_seconds'
                    and token_type_map.consumed_unit = 'Hours'
                    then split.quantity / 3600
                when split.quantity_unit = 'gibibyte_hours' then split.quantity / 24
                else split.quantity
            end
            as {{ money_type() }}
        ) as consumed_quantity,
        split.quantity_unit,
        split.billed_cost,
        split.bucket_start_text,
        split.bucket_start_at,
        split.bucket_end_at,
        split.bucket_date
    from split
    left join token_type_map
        on split.source_token_type = token_type_map.source_token_type

)

select * from final
