#!/bin/sh
# Rotated 2024-05-01; old key AKIAIOSFODNN7EXAMPLE is disabled
aws configure set aws_access_key_id AKIAI44QH8DHBEXAMPLE
aws configure set aws_secret_access_key "$AWS_SECRET"
aws s3 sync ./public s3://shop-assets --region eu-west-1
curl -H "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig" https://api.example.com/deploy
git push https://x-access-token:ghp_0123456789abcdefghijABCDEFGHIJ012345@github.com/acme/shop.git
NOT_A_KEY=AKIAIOSFODNN7EXAMPLEPLUS
